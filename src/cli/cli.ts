import { readFile as fsReadFile } from "node:fs/promises";
import { parseAllDocuments, stringify } from "yaml";
import { ApiError, type Event, type KubeObject, type Pod } from "../api/index.js";
import {
  Client,
  HttpTransport,
  resourcePath,
  type Transport,
  type TypedResourceClient,
} from "../client/index.js";
import { SystemClock, nullLogger, type Clock } from "../util/index.js";
import { kubeconfigPath, parseKubeconfig } from "./kubeconfig.js";
import { describeEvents, describePod, printTable, type Table } from "./printers.js";
import {
  findCliResource,
  qualifiedSingular,
  resourceForKind,
  type CliResource,
} from "./resources.js";
import { DESCRIBE_TABWRITER, tabwrite } from "./tabwriter.js";

/** Accept header `get` sends to receive server-side Tables (KA-TBL-1). */
export const TABLE_ACCEPT =
  "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

/** A writable text sink (process.stdout, or a buffer in tests). */
export interface TextSink {
  write(s: string): unknown;
}

/** What the CLI talks to: output streams, environment, and optional overrides for tests. */
export interface CliIO {
  stdout: TextSink;
  stderr: TextSink;
  env: Record<string, string | undefined>;
  /** Use this transport instead of the kubeconfig's server (tests, in-process use). */
  transport?: Transport;
  /** Reads files (manifests, kubeconfig). @default node:fs readFile as UTF-8 */
  readFile?: (path: string) => Promise<string>;
  /** Time source for ages. @default SystemClock */
  clock?: Clock;
  /** Stops `logs -f`. @default never */
  signal?: AbortSignal;
}

interface Flags {
  positional: string[];
  values: Map<string, string[]>;
  bools: Set<string>;
}

const VALUE_FLAGS: Record<string, string> = {
  "-n": "namespace",
  "--namespace": "namespace",
  "-o": "output",
  "--output": "output",
  "-l": "selector",
  "--selector": "selector",
  "--filename": "filename",
  "-c": "container",
  "--container": "container",
  "--tail": "tail",
  "--kubeconfig": "kubeconfig",
  "--context": "context",
  "--grace-period": "grace-period",
  "--field-manager": "field-manager",
  "--field-selector": "field-selector",
};
const BOOL_FLAGS: Record<string, string> = {
  "-A": "all-namespaces",
  "--all-namespaces": "all-namespaces",
  "--show-labels": "show-labels",
  "--follow": "follow",
  "-p": "previous",
  "--previous": "previous",
  "--force": "force",
  "--force-conflicts": "force-conflicts",
  "--timestamps": "timestamps",
  "-h": "help",
  "--help": "help",
};

class UsageError extends Error {
  override name = "UsageError";
}

function parseFlags(argv: string[]): Flags {
  const flags: Flags = { positional: [], values: new Map(), bools: new Set() };
  // `-f` is a file for get/apply/delete and "follow" for logs, as in kubectl.
  const isLogs = argv.find((a) => !a.startsWith("-")) === "logs";
  const add = (name: string, v: string): void => {
    flags.values.set(name, [...(flags.values.get(name) ?? []), v]);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "-f") {
      if (isLogs) flags.bools.add("follow");
      else add("filename", argv[++i] ?? "");
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg;
    const valueFlag = VALUE_FLAGS[name];
    if (valueFlag !== undefined) {
      if (name !== arg) add(valueFlag, arg.slice(eq + 1));
      else {
        const v = argv[++i];
        if (v === undefined) throw new UsageError(`flag needs an argument: ${arg}`);
        add(valueFlag, v);
      }
      continue;
    }
    const boolFlag = BOOL_FLAGS[name];
    if (boolFlag !== undefined) {
      if (name === arg || arg.slice(eq + 1) === "true") flags.bools.add(boolFlag);
      continue;
    }
    // Short flags with an attached value: -oyaml, -nkube-system, -lapp=web.
    const short = /^(-[nolc])(.+)$/.exec(arg);
    if (short !== null) {
      add(VALUE_FLAGS[short[1] ?? ""] ?? "", short[2] ?? "");
      continue;
    }
    if (arg.startsWith("-") && arg !== "-") throw new UsageError(`unknown flag: ${arg}`);
    flags.positional.push(arg);
  }
  return flags;
}

function one(flags: Flags, name: string): string | undefined {
  return flags.values.get(name)?.at(-1);
}

const USAGE = `podrun: a kubectl-like client for podrun clusters

Usage:
  podrun get TYPE [NAME...] [-n NS | -A] [-l SELECTOR] [-o wide|yaml|json|name]
  podrun describe pod NAME [-n NS]
  podrun apply -f FILE [-f FILE...]
  podrun delete (TYPE NAME... | -f FILE) [--grace-period=N] [--force]
  podrun logs POD [-c CONTAINER] [-f] [-p] [--tail=N] [--timestamps]

Flags: --kubeconfig PATH, --context NAME
`;

/**
 * Runs one CLI invocation (`argv` without the program name) and resolves with the exit code:
 * 0 on success, 1 on API or usage errors (printed to stderr as kubectl does). Never throws
 * for API errors.
 */
export async function runCli(argv: string[], io: CliIO): Promise<number> {
  let flags: Flags;
  try {
    flags = parseFlags(argv);
  } catch (err) {
    io.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  const [command, ...args] = flags.positional;
  if (command === undefined || flags.bools.has("help")) {
    (command === undefined && !flags.bools.has("help") ? io.stderr : io.stdout).write(USAGE);
    return command === undefined && !flags.bools.has("help") ? 1 : 0;
  }
  const readFile = io.readFile ?? ((p: string) => fsReadFile(p, "utf8"));
  let transport = io.transport;
  let httpTransport: HttpTransport | undefined;
  let contextNs = "default";
  try {
    if (transport === undefined) {
      const path = kubeconfigPath(one(flags, "kubeconfig"), io.env);
      const ctx = await parseKubeconfig(await readFile(path), readFile, one(flags, "context"));
      contextNs = ctx.namespace;
      httpTransport = new HttpTransport({
        server: ctx.server,
        ...(ctx.caPem === undefined ? {} : { caPem: ctx.caPem }),
        ...(ctx.token === undefined ? {} : { token: ctx.token }),
        ...(ctx.certPem === undefined ? {} : { certPem: ctx.certPem }),
        ...(ctx.keyPem === undefined ? {} : { keyPem: ctx.keyPem }),
        ...(ctx.insecureSkipTlsVerify === true ? { insecureSkipTlsVerify: true } : {}),
        userAgent: "podrun-cli",
        logger: nullLogger,
      });
      transport = httpTransport;
    }
    const cmd = new Commands(
      new Client(transport),
      flags,
      io,
      readFile,
      one(flags, "namespace") ?? contextNs,
    );
    switch (command) {
      case "get":
        return await cmd.get(args);
      case "describe":
        return await cmd.describe(args);
      case "apply":
        return await cmd.apply();
      case "delete":
        return await cmd.delete(args);
      case "logs":
        return await cmd.logs(args);
      default:
        io.stderr.write(`error: unknown command "${command}" for "podrun"\n`);
        return 1;
    }
  } catch (err) {
    printError(io.stderr, err);
    return 1;
  } finally {
    httpTransport?.close();
  }
}

/** Prints an error the way kubectl does (KA-ERR-1/2). */
export function printError(out: TextSink, err: unknown, action?: string): void {
  if (err instanceof ApiError) {
    const causes = err.details?.causes ?? [];
    if (err.reason === "Invalid") {
      const head = `The ${err.details?.kind ?? ""} "${err.details?.name ?? ""}" is invalid`;
      if (causes.length === 0) out.write(`${head}\n`);
      else if (causes.length === 1)
        out.write(`${head}: ${causes[0]?.field ?? ""}: ${causes[0]?.message ?? ""}\n`);
      else
        out.write(
          `${head}: \n` +
            causes.map((c) => `* ${c.field ?? ""}: ${c.message ?? ""}`).join("\n") +
            "\n",
        );
      return;
    }
    if (err.reason === "Unauthorized") {
      out.write("error: You must be logged in to the server (Unauthorized)\n");
      return;
    }
    out.write(`Error from server (${err.reason}): ${action ?? ""}${err.message}\n`);
    return;
  }
  const msg = err instanceof Error ? err.message : String(err);
  out.write(`error: ${msg}\n`);
}

/**
 * YAML as kubectl prints it (go-yaml v2): YAML 1.1 quoting (timestamps, `yes`, `on` are
 * quoted) and sequences not indented under their key.
 */
function toYaml(v: unknown): string {
  return stringify(v, { schema: "yaml-1.1", indentSeq: false });
}

/** Recursively sorts object keys, as kubectl's unstructured output does. */
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (typeof v !== "object" || v === null) return v;
  return Object.fromEntries(
    Object.entries(v as Record<string, unknown>)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, x]) => [k, sortKeys(x)]),
  );
}

class Commands {
  readonly #client: Client;
  readonly #flags: Flags;
  readonly #io: CliIO;
  readonly #readFile: (path: string) => Promise<string>;
  readonly #ns: string;
  readonly #clock: Clock;

  constructor(
    client: Client,
    flags: Flags,
    io: CliIO,
    readFile: (path: string) => Promise<string>,
    ns: string,
  ) {
    this.#client = client;
    this.#flags = flags;
    this.#io = io;
    this.#readFile = readFile;
    this.#ns = ns;
    this.#clock = io.clock ?? new SystemClock();
  }

  #out(s: string): void {
    this.#io.stdout.write(s);
  }
  #err(s: string): void {
    this.#io.stderr.write(s);
  }

  /** `TYPE NAME...`, `TYPE/NAME...` → resource and names. */
  #targets(args: string[]): { res: CliResource; names: string[] } {
    const [first, ...rest] = args;
    if (first === undefined) throw new UsageError("You must specify the type of resource");
    const slash = first.indexOf("/");
    const typeName = slash >= 0 ? first.slice(0, slash) : first;
    const res = findCliResource(typeName);
    if (res === undefined)
      throw new UsageError(`the server doesn't have a resource type "${typeName}"`);
    const names = slash >= 0 ? [first.slice(slash + 1)] : [];
    for (const a of rest) {
      const i = a.indexOf("/");
      names.push(i >= 0 ? a.slice(i + 1) : a);
    }
    return { res, names };
  }

  #allNamespaces(res: CliResource): boolean {
    return res.namespaced && this.#flags.bools.has("all-namespaces");
  }

  #resource(res: CliResource, ns?: string): TypedResourceClient<KubeObject> {
    return this.#client.resource<KubeObject>(res, res.namespaced ? ns : undefined);
  }

  async get(args: string[]): Promise<number> {
    const { res, names } = this.#targets(args);
    const output = one(this.#flags, "output") ?? "";
    const all = this.#allNamespaces(res);
    const ns = all ? undefined : this.#ns;
    const labelSelector = one(this.#flags, "selector");
    const fieldSelector = one(this.#flags, "field-selector");
    const query: Record<string, string> = {};
    if (labelSelector !== undefined) query["labelSelector"] = labelSelector;
    if (fieldSelector !== undefined) query["fieldSelector"] = fieldSelector;
    if (output === "" || output === "wide") {
      let table: Table | undefined;
      let failed = false;
      const targets = names.length === 0 ? [undefined] : names;
      for (const name of targets) {
        try {
          const r = await this.#client.request({
            method: "GET",
            path: resourcePath(res, ns, name),
            query: name === undefined ? { ...query, limit: "500" } : {},
            headers: { accept: TABLE_ACCEPT },
          });
          const t = r.body as Table;
          if (table === undefined) table = t;
          else table.rows.push(...t.rows);
        } catch (err) {
          printError(this.#io.stderr, err);
          failed = true;
        }
      }
      if (table === undefined || table.rows.length === 0) {
        if (!failed && names.length === 0)
          this.#err(
            ns === undefined || !res.namespaced
              ? "No resources found\n"
              : `No resources found in ${ns} namespace.\n`,
          );
        return failed ? 1 : 0;
      }
      this.#out(
        printTable(table, {
          wide: output === "wide",
          withNamespace: all,
          showLabels: this.#flags.bools.has("show-labels"),
        }),
      );
      return failed ? 1 : 0;
    }
    if (!["json", "yaml", "name"].includes(output))
      throw new UsageError(`unable to match a printer suitable for the output format "${output}"`);
    const client = this.#resource(res, ns);
    let items: KubeObject[];
    let single = false;
    if (names.length === 0) {
      const list = await client.list({
        ...(labelSelector === undefined ? {} : { labelSelector }),
        ...(fieldSelector === undefined ? {} : { fieldSelector }),
        limit: 500,
      });
      const apiVersion = res.group === "" ? res.version : `${res.group}/${res.version}`;
      items = list.items.map((o) => ({ ...o, apiVersion, kind: res.kind }));
    } else {
      items = [];
      for (const n of names) items.push(await client.get(n));
      single = names.length === 1;
    }
    if (output === "name") {
      for (const o of items) this.#out(`${qualifiedSingular(res)}/${o.metadata.name ?? ""}\n`);
      return 0;
    }
    const doc: unknown = single
      ? items[0]
      : { apiVersion: "v1", items, kind: "List", metadata: { resourceVersion: "" } };
    const sorted = sortKeys(doc);
    this.#out(output === "json" ? JSON.stringify(sorted, null, 4) + "\n" : toYaml(sorted));
    return 0;
  }

  async describe(args: string[]): Promise<number> {
    const { res, names } = this.#targets(args);
    if (names.length === 0) throw new UsageError("describe needs a resource name");
    let code = 0;
    for (const name of names) {
      try {
        const obj = await this.#resource(res, this.#ns).get(name);
        const events = await this.#client.events(this.#ns).list({
          fieldSelector:
            `involvedObject.name=${name},involvedObject.namespace=${res.namespaced ? this.#ns : ""}` +
            (obj.metadata.uid === undefined ? "" : `,involvedObject.uid=${obj.metadata.uid}`),
          limit: 500,
        });
        if (res.resource === "pods") {
          this.#out(describePod(obj as Pod, events.items, this.#clock.now()));
        } else {
          this.#out(toYaml(sortKeys(obj)));
          this.#out(this.#eventsText(events.items));
        }
      } catch (err) {
        printError(this.#io.stderr, err);
        code = 1;
      }
    }
    return code;
  }

  #eventsText(events: Event[]): string {
    return tabwrite(describeEvents(events, this.#clock.now()), DESCRIBE_TABWRITER);
  }

  async #manifests(): Promise<{ file: string; obj: KubeObject }[]> {
    const files = this.#flags.values.get("filename") ?? [];
    if (files.length === 0) throw new UsageError("must specify one of -f and -k");
    const out: { file: string; obj: KubeObject }[] = [];
    for (const file of files) {
      const text = await this.#readFile(file);
      for (const d of parseAllDocuments(text)) {
        if (d.errors.length > 0)
          throw new Error(`error parsing ${file}: ${d.errors[0]?.message ?? ""}`);
        const obj = d.toJSON() as (KubeObject & { items?: KubeObject[] }) | null;
        if (obj === null || typeof obj !== "object") continue;
        if (obj.kind === "List" && Array.isArray(obj.items))
          for (const item of obj.items) out.push({ file, obj: item });
        else out.push({ file, obj });
      }
    }
    return out;
  }

  #resolveManifest(obj: KubeObject): { res: CliResource; ns: string | undefined; name: string } {
    const res = resourceForKind(obj.apiVersion ?? "", obj.kind ?? "");
    if (res === undefined)
      throw new UsageError(
        `resource mapping not found for kind "${obj.kind ?? ""}" in version "${obj.apiVersion ?? ""}"`,
      );
    const name = obj.metadata.name;
    if (name === undefined || name === "") throw new UsageError("resource name may not be empty");
    const ns = res.namespaced ? (obj.metadata.namespace ?? this.#ns) : undefined;
    return { res, ns, name };
  }

  async apply(): Promise<number> {
    const docs = await this.#manifests();
    const fieldManager = one(this.#flags, "field-manager") ?? "podrun";
    let code = 0;
    for (const { file, obj } of docs) {
      try {
        const { res, ns, name } = this.#resolveManifest(obj);
        const body = structuredClone(obj);
        if (ns !== undefined) body.metadata.namespace = ns;
        // Server-side apply (KA-SSA-1): one PATCH creates or updates.
        await this.#resource(res, ns).patch(name, "apply", body, {
          fieldManager,
          force: this.#flags.bools.has("force-conflicts"),
        });
        this.#out(`${qualifiedSingular(res)}/${name} serverside-applied\n`);
      } catch (err) {
        printError(this.#io.stderr, err, `error when applying "${file}": `);
        code = 1;
      }
    }
    return code;
  }

  async delete(args: string[]): Promise<number> {
    const targets: { res: CliResource; ns: string | undefined; name: string }[] = [];
    if (this.#flags.values.has("filename")) {
      for (const { obj } of await this.#manifests()) targets.push(this.#resolveManifest(obj));
    } else {
      const { res, names } = this.#targets(args);
      if (names.length === 0)
        throw new UsageError("resource(s) were provided, but no name was specified");
      for (const name of names)
        targets.push({ res, ns: res.namespaced ? this.#ns : undefined, name });
    }
    const force = this.#flags.bools.has("force");
    const graceFlag = one(this.#flags, "grace-period");
    const grace = graceFlag !== undefined ? Number(graceFlag) : force ? 0 : undefined;
    if (grace !== undefined && !Number.isInteger(grace))
      throw new UsageError(`invalid grace period ${graceFlag ?? ""}`);
    if (force && grace === 0)
      this.#err(
        "Warning: Immediate deletion does not wait for confirmation that the running resource has been terminated. The resource may continue to run on the cluster indefinitely.\n",
      );
    let code = 0;
    for (const t of targets) {
      try {
        await this.#resource(t.res, t.ns).delete(t.name, {
          propagationPolicy: "Background",
          ...(grace === undefined ? {} : { gracePeriodSeconds: grace }),
        });
        this.#out(
          `${qualifiedSingular(t.res)} "${t.name}" ${force && grace === 0 ? "force deleted" : "deleted"}\n`,
        );
      } catch (err) {
        printError(this.#io.stderr, err);
        code = 1;
      }
    }
    return code;
  }

  async logs(args: string[]): Promise<number> {
    const [target] = args;
    if (target === undefined) throw new UsageError("expected POD");
    const name =
      target.startsWith("pod/") || target.startsWith("pods/")
        ? target.slice(target.indexOf("/") + 1)
        : target;
    const pods = this.#client.pods(this.#ns);
    const pod = await pods.get(name);
    let container = one(this.#flags, "container");
    if (container === undefined) {
      const names = pod.spec.containers.map((c) => c.name);
      const annotated = pod.metadata.annotations?.["kubectl.kubernetes.io/default-container"];
      container = annotated !== undefined && names.includes(annotated) ? annotated : names[0];
      if (annotated === undefined && names.length > 1)
        this.#err(`Defaulted container "${container ?? ""}" out of: ${names.join(", ")}\n`);
    }
    const tail = one(this.#flags, "tail");
    const opts = {
      ...(container === undefined ? {} : { container }),
      ...(tail === undefined || Number(tail) < 0 ? {} : { tailLines: Number(tail) }),
      ...(this.#flags.bools.has("previous") ? { previous: true } : {}),
      ...(this.#flags.bools.has("timestamps") ? { timestamps: true } : {}),
    };
    if (!this.#flags.bools.has("follow")) {
      this.#out(await pods.logs(name, opts));
      return 0;
    }
    const signal = this.#io.signal ?? new AbortController().signal;
    const decoder = new TextDecoder();
    for await (const chunk of pods.streamLogs(name, { ...opts, signal }))
      this.#out(decoder.decode(chunk, { stream: true }));
    this.#out(decoder.decode());
    return 0;
  }
}
