import type { BindingObject, PolicySource, RoleObject } from "../types.js";

/** In-memory RBAC objects for authorizer tests; records how often each method was called. */
export class FakePolicySource implements PolicySource {
  readonly clusterRolesByName = new Map<string, RoleObject>();
  readonly rolesByKey = new Map<string, RoleObject>();
  readonly clusterBindings: BindingObject[] = [];
  readonly bindings: BindingObject[] = [];
  readonly calls: string[] = [];

  /** Adds objects by kind (Role, ClusterRole, RoleBinding, ClusterRoleBinding). */
  add(...objects: (RoleObject | BindingObject)[]): this {
    for (const o of objects) {
      const name = o.metadata.name ?? "";
      switch (o.kind) {
        case "ClusterRole":
          this.clusterRolesByName.set(name, o);
          break;
        case "Role":
          this.rolesByKey.set(`${o.metadata.namespace ?? ""}/${name}`, o);
          break;
        case "ClusterRoleBinding":
          this.clusterBindings.push(o as BindingObject);
          break;
        case "RoleBinding":
          this.bindings.push(o as BindingObject);
          break;
        case undefined:
        default:
          throw new TypeError(`FakePolicySource: unknown kind ${String(o.kind)}`);
      }
    }
    return this;
  }

  clusterRoleBindings(): Promise<BindingObject[]> {
    this.calls.push("clusterRoleBindings");
    return Promise.resolve([...this.clusterBindings]);
  }

  roleBindings(namespace: string): Promise<BindingObject[]> {
    this.calls.push("roleBindings");
    return Promise.resolve(this.bindings.filter((b) => b.metadata.namespace === namespace));
  }

  clusterRole(name: string): Promise<RoleObject | undefined> {
    this.calls.push("clusterRole");
    return Promise.resolve(this.clusterRolesByName.get(name));
  }

  role(namespace: string, name: string): Promise<RoleObject | undefined> {
    this.calls.push("role");
    return Promise.resolve(this.rolesByKey.get(`${namespace}/${name}`));
  }
}
