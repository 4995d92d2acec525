import { defineConfig } from 'vite';

// The app lives under /dashboard/ (the plugin also answers / with index.html,
// whose asset URLs are therefore absolute). Nothing is inlined: the server's
// Content-Security-Policy allows no inline script or style.
export default defineConfig({
  base: '/dashboard/',
  build: {
    target: 'es2022',
    outDir: 'dist',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
});
