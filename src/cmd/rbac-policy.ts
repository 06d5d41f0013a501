// Bootstrap RBAC policy: the ClusterRoles and ClusterRoleBindings upstream creates at start
// (cluster-admin, admin, edit, view, system:discovery, …), written through the in-process
// client so that they get metadata, defaults and validation like any other object.
import { isAlreadyExists, type KubeObject } from "../api/index.js";
import {
  RBAC_GROUP,
  bootstrapClusterRoleBindings,
  bootstrapClusterRoles,
} from "../apiserver/rbac/index.js";
import type { Client } from "../client/index.js";
import type { Logger } from "../util/index.js";

const AUTOUPDATE = "rbac.authorization.kubernetes.io/autoupdate";

/**
 * Creates every missing bootstrap ClusterRole and ClusterRoleBinding and, like upstream's
 * reconciliation, rewrites an existing one whose rules or subjects drifted unless its
 * `rbac.authorization.kubernetes.io/autoupdate` annotation is `"false"`. Idempotent.
 */
export async function ensureBootstrapPolicy(client: Client, logger: Logger): Promise<void> {
  const groups: [string, KubeObject[]][] = [
    ["clusterroles", bootstrapClusterRoles()],
    ["clusterrolebindings", bootstrapClusterRoleBindings()],
  ];
  for (const [resource, objects] of groups) {
    const rc = client.resource<KubeObject>({
      group: RBAC_GROUP,
      version: "v1",
      resource,
      namespaced: false,
    });
    for (const want of objects) {
      try {
        await rc.create(want);
        continue;
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
      }
      const have = await rc.get(want.metadata.name ?? "");
      if (have.metadata.annotations?.[AUTOUPDATE] === "false") continue;
      const w = want as KubeObject & Record<string, unknown>;
      const h = have as KubeObject & Record<string, unknown>;
      const fields = ["rules", "roleRef", "subjects"].filter((f) => f in w);
      if (fields.every((f) => JSON.stringify(w[f]) === JSON.stringify(h[f]))) continue;
      await rc.update({ ...have, ...Object.fromEntries(fields.map((f) => [f, w[f]])) });
      logger.info("bootstrap policy reconciled", { resource, name: want.metadata.name });
    }
  }
}
