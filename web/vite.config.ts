import { defineConfig } from 'vite';
import vue from '@vitejs/plugin-vue';

// `npm run dev` serves the app with hot reload and forwards the API and the
// WebSocket to a Herald running on its default port.
const herald = process.env.HERALD_URL ?? 'http://127.0.0.1:15674';

export default defineConfig({
  plugins: [vue()],
  build: {
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
  server: {
    proxy: {
      '/api': herald,
      '/ws': { target: herald.replace(/^http/, 'ws'), ws: true },
    },
  },
});
