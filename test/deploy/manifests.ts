// Reading `helm template` output in tests: split into objects, find one by kind, and validate each against the
// Kubernetes OpenAPI schemas (npm kubernetes-models; prometheus-operator kinds from @kubernetes-models/prometheus-operator).
import { parseAllDocuments } from 'yaml';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: any;  
}

export function parseManifests(text: string): K8sObject[] {
  return parseAllDocuments(text).map((d) => d.toJS() as K8sObject).filter((o) => o && typeof o === 'object');
}

export function find(objects: K8sObject[], kind: string, name?: string): K8sObject {
  const o = objects.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  if (!o) throw new Error(`no ${kind}${name ? ` ${name}` : ''} among ${objects.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return o;
}

/** The module of kubernetes-models that holds `apiVersion`'s kinds. */
function modelModule(apiVersion: string): string {
  if (apiVersion.startsWith('monitoring.coreos.com/')) return `@kubernetes-models/prometheus-operator/${apiVersion}`;
  return `kubernetes-models/${apiVersion}`;
}

/** Validate against the schema of its apiVersion/kind; throws with the schema's words and the object's name. */
export async function validateObject(o: K8sObject): Promise<void> {
  // Both packages are ES modules: a dynamic import from this CommonJS test.
  const models = await import(modelModule(o.apiVersion)) as Record<string, new (data: unknown) => { validate(): void }>;
  const Model = models[o.kind];
  if (!Model) throw new Error(`no schema for ${o.apiVersion} ${o.kind}`);
  try {
    new Model(o).validate();
  } catch (e) {
    throw new Error(`${o.kind}/${o.metadata.name}: ${(e as Error).message}`);
  }
}
