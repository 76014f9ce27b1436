// The engine's version: written into every report and part of the job system's result-cache key,
// so bump it whenever the same inputs would give different outputs.
export const ENGINE_VERSION = '1.1.0';
