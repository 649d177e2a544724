// Compile Solidity with solc-js: a standard-JSON input on stdin, the output on stdout. Imports resolve under the
// node_modules folder given as the first argument (OpenZeppelin's packages). Run by sextant/trust/build.py.
const fs = require("fs");
const path = require("path");
const modules = process.argv[2];
const solc = require(path.join(modules, "solc"));
const input = fs.readFileSync(0, "utf8");
function findImports(name) {
  const file = path.join(modules, name);
  return fs.existsSync(file) ? { contents: fs.readFileSync(file, "utf8") } : { error: `not found: ${name}` };
}
process.stdout.write(JSON.stringify({ version: solc.version(), output: JSON.parse(solc.compile(input, { import: findImports })) }));
