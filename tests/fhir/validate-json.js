// Checks a JSON export against docs/export-schema.json with ajv (JSON Schema draft-07) and
// prints one JSON line {"validator", "valid", "errors"}. Exit 0 when valid, 1 when not,
// 2 when a file cannot be read.
//   node tests/fhir/validate-json.js SCHEMA.json EXPORT.json
'use strict';
const fs = require('fs');
const Ajv = require('ajv');

let schema, doc;
try {
  schema = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  doc = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
} catch (e) {
  console.error(`validate-json.js: ${e.message}`);
  process.exit(2);
}
const ajv = new Ajv({ allErrors: true });
const valid = ajv.validate(schema, doc);
const errors = (ajv.errors || []).map((e) => `${e.dataPath || '(root)'} ${e.message} ${JSON.stringify(e.params)}`).slice(0, 50);
console.log(JSON.stringify({ validator: 'docs/export-schema.json + ajv', valid, errors }));
process.exit(valid ? 0 : 1);
