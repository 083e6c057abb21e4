// Attribute values as events, spans and requests carry them (flat, OpenTelemetry-compatible). Its own file so that
// event.ts and request.ts can both use it without importing each other.
export type AttributeValue = string | number | boolean | string[] | number[];
export type Attributes = Record<string, AttributeValue>;
