// Builds ui/dist, which is committed and embedded into the gateway binary
// (gateway/src/ui.rs). Output names carry a content hash, so the same source
// and lockfile always give the same files (tests/ui.rs checks that).
import { defineConfig } from "vite";

// `npm run dev` serves the UI with hot reload and sends API calls to a
// running gateway: LOGLENS_API, default http://127.0.0.1:8000.
const api = process.env.LOGLENS_API ?? "http://127.0.0.1:8000";

export default defineConfig({
  base: "/",
  server: {
    proxy: Object.fromEntries(["/logs", "/stats", "/health", "/ledger"].map((p) => [p, api])),
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
    rollupOptions: {
      output: {
        entryFileNames: "assets/[name]-[hash].js",
        chunkFileNames: "assets/[name]-[hash].js",
        assetFileNames: "assets/[name]-[hash][extname]",
      },
    },
  },
});
