// The peer's configuration (bench/peer.py starts it): PostGraphile 5's default
// preset over the one schema holding the benchmark view, no authentication.
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";

export default {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({
      connectionString: process.env.PEER_DATABASE_URL,
      schemas: [process.env.PEER_SCHEMA ?? "gql_bench_peer"],
    }),
  ],
  grafserv: { port: Number(process.env.PEER_PORT ?? 5678), host: "127.0.0.1", graphiql: false },
  grafast: { explain: false },
};
