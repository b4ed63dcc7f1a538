import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

// The built page is embedded into the Tauri binary: no CDN, no inline
// scripts (the CSP forbids them), relative asset paths.
export default defineConfig({
  plugins: [svelte()],
  base: './',
  build: { outDir: 'dist', emptyOutDir: true, target: 'safari15', assetsInlineLimit: 0 },
  clearScreen: false,
});
