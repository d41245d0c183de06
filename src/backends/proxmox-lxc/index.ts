export { createProxmoxLxcBackend } from './backend.js';
