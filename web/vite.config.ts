/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The agent console (index.html + hashed assets). public/ holds demo.html,
// copied verbatim. CHORUS_WEB_OUTDIR lets check-dist.sh build elsewhere.
export default defineConfig({
  plugins: [react()],
  base: '/',
  build: {
    outDir: process.env.CHORUS_WEB_OUTDIR || 'dist',
    emptyOutDir: true,
    sourcemap: false,
    assetsDir: 'assets',
  },
  server: {
    proxy: {
      '/api': 'http://127.0.0.1:8080',
      '/ws': { target: 'ws://127.0.0.1:8080', ws: true },
      '/widget.js': 'http://127.0.0.1:8080',
    },
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}', 'widget/src/**/*.test.ts'],
    globals: true,
  },
});
