const solc = require('solc');
const fs = require('fs');
const path = require('path');
const names = process.argv.slice(2);
const sources = {};
for (const n of names) sources[`contracts/${n}.sol`] = {content: fs.readFileSync(`contracts/${n}.sol`, 'utf8')};
const input = {language: 'Solidity', sources, settings: {optimizer: {enabled: true, runs: 200}, viaIR: true,
  evmVersion: 'shanghai', outputSelection: {'*': {'*': ['abi', 'evm.bytecode.object']}}}};
function findImports(p) {
  const full = path.join('node_modules', p);
  if (fs.existsSync(full)) return {contents: fs.readFileSync(full, 'utf8')};
  return {error: 'not found ' + p};
}
const t = Date.now();
const out = JSON.parse(solc.compile(JSON.stringify(input), {import: findImports}));
const errors = (out.errors || []).filter(e => e.severity === 'error');
if (errors.length) { console.error(errors.map(e => e.formattedMessage).join('\n')); process.exit(1); }
for (const n of names) {
  const c = out.contracts[`contracts/${n}.sol`][n];
  fs.writeFileSync(`build-${n}.json`, JSON.stringify({abi: c.abi, bytecode: '0x' + c.evm.bytecode.object}));
  console.log(n, c.evm.bytecode.object.length / 2, 'bytes');
}
console.log('compiled in', (Date.now() - t) / 1000, 's with', solc.version());
