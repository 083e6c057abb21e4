// IP -> `<service>.<namespace>`, from Services (ClusterIPs) and EndpointSlices (the pod IPs behind them), so a
// connection's peer address can be named. Kept incrementally as the informers report changes; each slice remembers
// which IPs it contributed so an update or delete takes exactly those back.
import { SERVICE_NAME_LABEL, type EndpointSlice, type Service } from './objects';

/** Lowercase, and IPv4-mapped IPv6 (`::ffff:10.0.0.1`, what dual-stack sockets report) as plain IPv4. */
export function normalizeIp(ip: string): string {
  const lower = ip.trim().toLowerCase();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(lower);
  return mapped ? mapped[1]! : lower;
}

export class ServiceIndex {
  /** ClusterIP -> service; a ClusterIP belongs to exactly one Service. */
  private readonly clusterIps = new Map<string, string>();
  private readonly ipsOfService = new Map<string, string[]>();
  /** Endpoint IP -> the services it backs, once per slice that says so (a pod may back several Services). A plain
   *  array because nearly every IP has one entry: 30k one-entry Maps cost ~4x the memory of 30k small arrays. */
  private readonly endpointIps = new Map<string, string[]>();
  private readonly slices = new Map<string, { service: string; ips: string[] }>();

  setService(svc: Service): void {
    const key = `${svc.metadata.namespace}/${svc.metadata.name}`;
    this.deleteService(svc);
    const name = `${svc.metadata.name}.${svc.metadata.namespace}`;
    const ips = new Set<string>();
    for (const ip of [svc.spec?.clusterIP, ...(svc.spec?.clusterIPs ?? [])]) {
      // Headless services say "None"; ExternalName services have no ClusterIP.
      if (ip && ip !== 'None') ips.add(normalizeIp(ip));
    }
    for (const ip of ips) this.clusterIps.set(ip, name);
    if (ips.size) this.ipsOfService.set(key, [...ips]);
  }

  deleteService(svc: Service): void {
    const key = `${svc.metadata.namespace}/${svc.metadata.name}`;
    const name = `${svc.metadata.name}.${svc.metadata.namespace}`;
    for (const ip of this.ipsOfService.get(key) ?? []) {
      if (this.clusterIps.get(ip) === name) this.clusterIps.delete(ip);
    }
    this.ipsOfService.delete(key);
  }

  setSlice(slice: EndpointSlice): void {
    this.deleteSlice(slice);
    const serviceName = slice.metadata.labels?.[SERVICE_NAME_LABEL];
    if (!serviceName) return; // a slice not managed for a Service names nothing
    const service = `${serviceName}.${slice.metadata.namespace}`;
    const ips = new Set<string>();
    for (const a of slice.addresses) ips.add(normalizeIp(a));
    for (const ip of ips) {
      const services = this.endpointIps.get(ip);
      if (services) services.push(service); else this.endpointIps.set(ip, [service]);
    }
    this.slices.set(`${slice.metadata.namespace}/${slice.metadata.name}`, { service, ips: [...ips] });
  }

  deleteSlice(slice: EndpointSlice): void {
    const key = `${slice.metadata.namespace}/${slice.metadata.name}`;
    const old = this.slices.get(key);
    if (!old) return;
    this.slices.delete(key);
    for (const ip of old.ips) {
      const services = this.endpointIps.get(ip);
      if (!services) continue;
      const i = services.indexOf(old.service);
      if (i >= 0) services.splice(i, 1);
      if (services.length === 0) this.endpointIps.delete(ip);
    }
  }

  /** A ClusterIP first; for a pod IP behind several Services, the first by name, so the answer is stable. */
  lookup(ip: string): string | undefined {
    const n = normalizeIp(ip);
    const direct = this.clusterIps.get(n);
    if (direct) return direct;
    const services = this.endpointIps.get(n);
    if (!services || services.length === 0) return undefined;
    if (services.length === 1) return services[0];
    return services.reduce((a, b) => (b < a ? b : a));
  }

  sizes(): { clusterIps: number; endpointIps: number } {
    return { clusterIps: this.clusterIps.size, endpointIps: this.endpointIps.size };
  }
}
