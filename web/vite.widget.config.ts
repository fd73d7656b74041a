import { defineConfig } from 'vite';

// The visitor widget: one self-contained IIFE, dist/widget.js. Runs after the
// app build, so it must not empty the output directory.
export default defineConfig({
  publicDir: false,
  build: {
    outDir: process.env.CHORUS_WEB_OUTDIR || 'dist',
    emptyOutDir: false,
    sourcemap: false,
    target: 'es2019',
    minify: true,
    lib: {
      entry: 'widget/src/index.ts',
      name: 'ChorusWidgetBundle',
      formats: ['iife'],
      fileName: () => 'widget.js',
    },
  },
});
