// The console is static files: an HTML page, one script and one stylesheet, all hashed, nothing
// inline (the CSP allows no inline code) and nothing fetched from elsewhere at run time.
import { defineConfig } from 'vite';

export default defineConfig({
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
});
