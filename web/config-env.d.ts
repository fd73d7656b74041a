// process.env as read by the Vite configs (no @types/node here).
declare const process: { env: Record<string, string | undefined> };
