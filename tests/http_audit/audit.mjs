// Usage: node audit.mjs URL
// Prints every audit result; exits 1 on any failure or warning.
import { auditServer } from 'graphql-http';

const url = process.argv[2];
const results = await auditServer({ url });
let ok = 0;
let bad = 0;
for (const result of results) {
  if (result.status === 'ok') {
    ok += 1;
  } else {
    bad += 1;
    console.log(`${result.status.toUpperCase()} ${result.id} ${result.name}: ${result.reason}`);
  }
}
const warnings = results.filter((r) => r.status === 'warn').length;
const failures = results.filter((r) => r.status === 'error').length;
console.log(`audit: ${ok} passed, ${failures} failed, ${warnings} warnings`);
process.exit(bad ? 1 : 0);
