// Generates src/apiserver/http/openapi-data/*.json: compact OpenAPI v3 documents for the
// resources podrun serves, built from the model classes and doc comments shipped in
// @kubernetes/client-node (a generated copy of upstream's OpenAPI schemas).
// Run: node --import tsx scripts/gen-openapi.ts
import { readFileSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { execFileSync } from "node:child_process";
import { RESOURCES, type ResourceInfo } from "../src/apiserver/resources.js";
import { listStrategy } from "../src/apiserver/patch/index.js";

const MODELS = "node_modules/@kubernetes/client-node/dist/gen/models";
const OUT = "src/apiserver/http/openapi-data";

/** Kinds served beyond RESOURCES' current list, so later additions find their schema ready. */
const EXTRA: Pick<
  ResourceInfo,
  "group" | "version" | "resource" | "kind" | "namespaced" | "subresources"
>[] = [
  {
    group: "apps",
    version: "v1",
    resource: "deployments",
    kind: "Deployment",
    namespaced: true,
    subresources: ["status", "scale"],
  },
  {
    group: "apps",
    version: "v1",
    resource: "replicasets",
    kind: "ReplicaSet",
    namespaced: true,
    subresources: ["status", "scale"],
  },
  {
    group: "apps",
    version: "v1",
    resource: "statefulsets",
    kind: "StatefulSet",
    namespaced: true,
    subresources: ["status", "scale"],
  },
  {
    group: "apps",
    version: "v1",
    resource: "daemonsets",
    kind: "DaemonSet",
    namespaced: true,
    subresources: ["status"],
  },
  {
    group: "batch",
    version: "v1",
    resource: "jobs",
    kind: "Job",
    namespaced: true,
    subresources: ["status"],
  },
  {
    group: "batch",
    version: "v1",
    resource: "cronjobs",
    kind: "CronJob",
    namespaced: true,
    subresources: ["status"],
  },
  {
    group: "",
    version: "v1",
    resource: "podtemplates",
    kind: "PodTemplate",
    namespaced: true,
    subresources: [],
  },
];

const CLASS_PREFIX: Record<string, string> = {
  "events.k8s.io": "EventsV1",
  "discovery.k8s.io": "DiscoveryV1",
};

function className(group: string, kind: string): string {
  if (group === "" && kind === "Event") return "CoreV1Event";
  const prefixed = `${CLASS_PREFIX[group] ?? "V1"}${kind}`;
  return isModel(prefixed) ? prefixed : `V1${kind}`;
}

const META = new Set([
  "ObjectMeta",
  "ListMeta",
  "OwnerReference",
  "ManagedFieldsEntry",
  "LabelSelector",
  "LabelSelectorRequirement",
  "Condition",
  "Status",
  "StatusDetails",
  "StatusCause",
  "DeleteOptions",
  "Preconditions",
]);
const PKG_BY_NAME: [RegExp, string][] = [
  [/^(Deployment|ReplicaSet|StatefulSet|DaemonSet|RollingUpdate)/, "io.k8s.api.apps.v1"],
  [/^(Job|CronJob|PodFailurePolicy|SuccessPolicy|UncountedTerminatedPods)/, "io.k8s.api.batch.v1"],
  [/^(EndpointSlice|EndpointConditions|EndpointHints|ForZone|ForNode)$/, "io.k8s.api.discovery.v1"],
  [/^Lease/, "io.k8s.api.coordination.v1"],
  [
    /^(SelfSubjectAccessReview|ResourceAttributes|NonResourceAttributes|SubjectAccessReviewStatus|FieldSelectorAttributes|LabelSelectorAttributes)/,
    "io.k8s.api.authorization.v1",
  ],
];

function schemaName(cls: string): string {
  let short = cls;
  let pkg: string | undefined;
  for (const [pre, p] of [
    ["CoreV1", "io.k8s.api.core.v1"],
    ["EventsV1", "io.k8s.api.events.v1"],
    ["DiscoveryV1", "io.k8s.api.discovery.v1"],
  ] as const) {
    if (cls.startsWith(pre)) {
      short = cls.slice(pre.length);
      pkg = p;
    }
  }
  if (pkg === undefined) {
    short = cls.replace(/^V\d+/, "");
    if (META.has(short)) pkg = "io.k8s.apimachinery.pkg.apis.meta.v1";
    else if (cls === "V1Endpoint") pkg = "io.k8s.api.discovery.v1";
    else pkg = PKG_BY_NAME.find(([re]) => re.test(short))?.[1] ?? "io.k8s.api.core.v1";
  }
  return `${pkg}.${short}`;
}

interface Attr {
  name: string;
  baseName: string;
  type: string;
  format: string;
}
interface Doc {
  classDescription?: string;
  fields: Map<string, { description?: string; required: boolean }>;
}

function parseDts(cls: string): Doc {
  const text = readFileSync(join(MODELS, `${cls}.d.ts`), "utf8");
  const doc: Doc = { fields: new Map() };
  const classM = /\/\*\*\s*\n((?:(?!\*\/)[\s\S])*?)\*\/\s*\nexport declare class/.exec(text);
  if (classM?.[1] !== undefined) doc.classDescription = clean(classM[1]);
  const body = text.slice(text.indexOf("export declare class"));
  const re = /(?:\/\*\*\s*\n((?:(?!\*\/)[\s\S])*?)\*\/\s*\n)?\s*'([^']+)'(\?)?:/g;
  for (const m of body.matchAll(re)) {
    const field = m[2] ?? "";
    const desc = m[1] === undefined ? undefined : clean(m[1]);
    doc.fields.set(field, { ...(desc ? { description: desc } : {}), required: m[3] === undefined });
  }
  return doc;
}

function clean(s: string): string {
  return s
    .split("\n")
    .map((l) => l.replace(/^\s*\*\s?/, ""))
    .join("\n")
    .trim()
    .replace(/\\(["'])/g, "$1");
}

type Schema = Record<string, unknown>;
const schemas = new Map<string, Schema>();

async function loadAttrs(cls: string): Promise<Attr[]> {
  const mod = (await import(
    pathToFileURL(join(process.cwd(), MODELS, `${cls}.js`)).href
  )) as Record<string, { attributeTypeMap?: Attr[] }>;
  return mod[cls]?.attributeTypeMap ?? [];
}

function isModel(t: string): boolean {
  return existsSync(join(MODELS, `${t}.js`));
}

async function typeSchema(t: string, format: string): Promise<Schema> {
  const arr = /^Array<(.+)>$/.exec(t);
  if (arr?.[1] !== undefined) return { type: "array", items: await typeSchema(arr[1], "") };
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(t);
  if (map?.[1] !== undefined)
    return { type: "object", additionalProperties: await typeSchema(map[1], "") };
  switch (t) {
    case "string":
      return format ? { type: "string", format } : { type: "string" };
    case "number":
      return format === "int32" || format === "int64"
        ? { type: "integer", format }
        : { type: "number", format: format || "double" };
    case "boolean":
      return { type: "boolean" };
    case "Date":
      return { type: "string", format: "date-time" };
    case "any":
      return { type: "object", "x-kubernetes-preserve-unknown-fields": true };
    case "IntOrString": {
      const name = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
      schemas.set(name, {
        description:
          "IntOrString is a type that can hold an int32 or a string.  When used in JSON or YAML marshalling and unmarshalling, it produces or consumes the inner type.",
        type: "string",
        format: "int-or-string",
      });
      return { allOf: [{ $ref: `#/components/schemas/${name}` }] };
    }
  }
  if (isModel(t)) {
    const name = await modelSchema(t);
    return { allOf: [{ $ref: `#/components/schemas/${name}` }], default: {} };
  }
  return { type: "object" };
}

async function modelSchema(
  cls: string,
  path: string[] = [],
  kindCtx = { group: "", kind: "" },
): Promise<string> {
  const name = schemaName(cls);
  if (schemas.has(name)) return name;
  const doc = parseDts(cls);
  const schema: Schema = { type: "object" };
  if (doc.classDescription) schema["description"] = doc.classDescription;
  schemas.set(name, schema);
  const props: Record<string, Schema> = {};
  const required: string[] = [];
  for (const a of await loadAttrs(cls)) {
    const info = doc.fields.get(a.name);
    const s = await typeSchema(a.type, a.format);
    if (info?.description) s["description"] = info.description;
    if (info?.required) required.push(a.baseName);
    props[a.baseName] = s;
  }
  schema["properties"] = props;
  if (required.length > 0) schema["required"] = required.sort();
  void path;
  void kindCtx;
  return name;
}

/** Adds x-kubernetes-patch-merge-key/strategy to list fields, walking from each root kind. */
function annotateLists(rootName: string, target: { group: string; kind: string }): void {
  const seen = new Set<string>();
  const walk = (name: string, path: string[]): void => {
    const key = `${name}@${path.join(".")}`;
    if (seen.has(key) || path.length > 12) return;
    seen.add(key);
    const schema = schemas.get(name);
    const props = schema?.["properties"] as Record<string, Schema> | undefined;
    for (const [field, s] of Object.entries(props ?? {})) {
      const p = [...path, field];
      if (s["type"] === "array") {
        const strategy = listStrategy(target, p);
        if (strategy.type === "key") {
          s["x-kubernetes-patch-merge-key"] = strategy.key;
          s["x-kubernetes-patch-strategy"] = strategy.retainKeys ? "merge,retainKeys" : "merge";
        } else if (strategy.type === "set") {
          s["x-kubernetes-patch-strategy"] = "merge";
        }
        const item = refOf(s["items"] as Schema | undefined);
        if (item) walk(item, p);
      } else {
        const ref = refOf(s);
        if (ref) walk(ref, p);
      }
    }
  };
  walk(rootName, []);
}

function refOf(s: Schema | undefined): string | undefined {
  const all = s?.["allOf"] as { $ref: string }[] | undefined;
  return all?.[0]?.$ref.replace("#/components/schemas/", "");
}

const FIELD_VALIDATION = {
  name: "fieldValidation",
  in: "query",
  description:
    "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore - Strict - Warn",
  schema: { type: "string", uniqueItems: true },
};
const PARAM = (name: string, description: string, type = "string"): Schema => ({
  name,
  in: "query",
  description,
  schema: { type, uniqueItems: true },
});
const DRY_RUN = PARAM(
  "dryRun",
  "When present, indicates that modifications should not be persisted.",
);
const FIELD_MANAGER = PARAM(
  "fieldManager",
  "fieldManager is a name associated with the actor or entity that is making these changes.",
);
const FORCE = PARAM("force", 'Force is going to "force" Apply requests.', "boolean");
const PATCH_BODY = {
  content: Object.fromEntries(
    [
      "application/apply-patch+yaml",
      "application/json-patch+json",
      "application/merge-patch+json",
      "application/strategic-merge-patch+json",
    ].map((t) => [
      t,
      { schema: { $ref: "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch" } },
    ]),
  ),
  required: true,
};

function ok(ref: string): Schema {
  return {
    description: "OK",
    content: { "application/json": { schema: { $ref: `#/components/schemas/${ref}` } } },
  };
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const all = [
    ...RESOURCES,
    ...EXTRA.filter((e) => !RESOURCES.some((r) => r.group === e.group && r.kind === e.kind)),
  ];
  const byGv = new Map<string, typeof all>();
  for (const r of all) {
    const gv = r.group === "" ? `api/${r.version}` : `apis/${r.group}/${r.version}`;
    byGv.set(gv, [...(byGv.get(gv) ?? []), r]);
  }
  for (const [gv, resources] of byGv) {
    schemas.clear();
    schemas.set("io.k8s.apimachinery.pkg.apis.meta.v1.Patch", {
      description:
        "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.",
      type: "object",
    });
    const paths: Record<string, Schema> = {};
    for (const r of resources) {
      const cls = className(r.group, r.kind);
      if (!isModel(cls)) {
        console.error(`skip ${r.kind}: no model ${cls}`);
        continue;
      }
      const root = await modelSchema(cls);
      const gvk = [{ group: r.group, version: r.version, kind: r.kind }];
      (schemas.get(root) as Schema)["x-kubernetes-group-version-kind"] = gvk;
      annotateLists(root, { group: r.group, kind: r.kind });
      let listRoot: string | undefined;
      if (isModel(`${cls}List`)) {
        listRoot = await modelSchema(`${cls}List`);
        (schemas.get(listRoot) as Schema)["x-kubernetes-group-version-kind"] = [
          { ...gvk[0], kind: `${r.kind}List` },
        ];
      }
      const base = r.namespaced
        ? `/${gv}/namespaces/{namespace}/${r.resource}`
        : `/${gv}/${r.resource}`;
      const pathParams = [
        ...(r.namespaced
          ? [
              {
                name: "namespace",
                in: "path",
                required: true,
                description: "object name and auth scope, such as for teams and projects",
                schema: { type: "string", uniqueItems: true },
              },
            ]
          : []),
      ];
      const op = (action: string, extra: Schema): Schema => ({
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk[0],
        responses: { "200": ok(root) },
        ...extra,
      });
      paths[base] = {
        parameters: pathParams,
        get: {
          ...op("list", {}),
          operationId: `list${r.kind}`,
          responses: { "200": ok(listRoot ?? root) },
        },
        post: {
          ...op("post", {}),
          operationId: `create${r.kind}`,
          parameters: [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION],
          requestBody: {
            content: { "*/*": { schema: { $ref: `#/components/schemas/${root}` } } },
            required: true,
          },
        },
      };
      const item = {
        parameters: [
          {
            name: "name",
            in: "path",
            required: true,
            description: `name of the ${r.kind}`,
            schema: { type: "string", uniqueItems: true },
          },
          ...pathParams,
        ],
        get: { ...op("get", {}), operationId: `read${r.kind}` },
        put: {
          ...op("put", {}),
          operationId: `replace${r.kind}`,
          parameters: [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION],
          requestBody: {
            content: { "*/*": { schema: { $ref: `#/components/schemas/${root}` } } },
            required: true,
          },
        },
        patch: {
          ...op("patch", {}),
          operationId: `patch${r.kind}`,
          parameters: [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION, FORCE],
          requestBody: PATCH_BODY,
        },
        delete: { ...op("delete", {}), operationId: `delete${r.kind}`, parameters: [DRY_RUN] },
      };
      paths[`${base}/{name}`] = item;
      if (r.subresources.includes("status")) {
        paths[`${base}/{name}/status`] = { ...item, delete: undefined };
      }
    }
    const doc = {
      openapi: "3.0.0",
      info: { title: "Kubernetes", version: "v1.33.0" },
      paths,
      components: {
        schemas: Object.fromEntries([...schemas].sort(([a], [b]) => a.localeCompare(b))),
      },
    };
    const file = join(OUT, `${gv.replaceAll("/", "__")}.json`);
    writeFileSync(file, JSON.stringify(doc));
    console.log(`${file}: ${Object.keys(paths).length} paths, ${schemas.size} schemas`);
  }
}

await main();
// Keep `prettier --check .` (npm run format:check) green for the generated files.
execFileSync("npx", ["prettier", "--log-level", "warn", "--write", OUT], { stdio: "inherit" });
