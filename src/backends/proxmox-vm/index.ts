export { createProxmoxVmBackend } from './backend.js';
