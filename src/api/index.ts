// The JSON API entry point, as src/web/app.ts mounts it.
export { apiRouter, jwksRouter } from './app.js';
