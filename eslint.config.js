// Lint: typescript-eslint strict + stylistic (type-aware), plus the module layer rules of
// STYLE.md §1: each folder may import only the modules listed for it, and only through
// their index.ts.
import tseslint from "typescript-eslint";

const modules = {
  util: [],
  api: ["util"],
  storage: ["api", "util"],
  apiserver: ["api", "storage", "util"],
  client: ["api", "util"],
  controllers: ["api", "client", "util"],
  scheduler: ["api", "client", "util"],
  dns: ["api", "client", "util"],
  proxy: ["api", "client", "util"],
  cli: ["api", "client", "util"],
  runtime: ["util"],
  kubelet: ["api", "client", "runtime", "util"],
};
const all = [...Object.keys(modules), "cmd"];

function layerBlock(mod, allowed) {
  const patterns = [];
  for (const other of all) {
    if (other === mod) continue;
    if (allowed.includes(other)) {
      // Allowed module: only through its index.ts.
      patterns.push({
        regex: `(^|/)${other}/(?!index\\.js$|testing/).+`,
        message: `import ${other}/ only through its index.ts (STYLE.md §1)`,
      });
    } else {
      patterns.push({
        regex: `(^|/)\\.\\./(\\.\\./)*${other}/`,
        message: `${mod}/ may not import ${other}/ (STYLE.md §1)`,
      });
    }
  }
  return {
    files: [`src/${mod}/**/*.ts`],
    rules: { "no-restricted-imports": ["error", { patterns }] },
  };
}

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "eslint.config.js", "bin/**"] },
  ...tseslint.configs.strictTypeChecked,
  ...tseslint.configs.stylisticTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/switch-exhaustiveness-check": "error",
      "@typescript-eslint/no-floating-promises": [
        "error",
        { allowForKnownSafeCalls: [{ from: "package", package: "node:test", name: ["test", "describe", "it", "suite"] }] },
      ],
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true, allowBoolean: true }],
      "no-console": "error",
      "no-restricted-syntax": ["error", { selector: "TSEnumDeclaration", message: "use a string-literal union" }],
    },
  },
  ...Object.entries(modules).map(([m, allowed]) => layerBlock(m, allowed)),
  { files: ["src/cli/**/*.ts", "src/cmd/**/*.ts", "test/**/*.ts", "bench/**/*.ts"], rules: { "no-console": "off" } },
  {
    files: ["**/*.test.ts", "test/**/*.ts", "**/testing/**/*.ts"],
    rules: { "@typescript-eslint/no-non-null-assertion": "off" },
  },
);
