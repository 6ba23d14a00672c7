"""What argon2id costs on this machine, for choosing GQL_SERVER_ARGON2_* (not a test).

    python bench/hashing.py [--rounds 15]

For each candidate profile: median time to hash and to verify one password,
the memory one verification holds, and how many sign-ins per second the
machine's cores could verify if they did nothing else. The last line is
key=value figures for the profile the server uses by default.
"""

import argparse
import os
import statistics
import time

import argon2

from gql_server.settings import Settings

# (time_cost, memory KiB, parallelism): argon2-cffi's RFC 9106 low-memory
# profile, OWASP's listed minimums, and points in between.
PROFILES = [
    (3, 65536, 4),  # RFC 9106 "low memory" (argon2-cffi's default)
    (2, 65536, 1),
    (1, 47104, 1),  # OWASP: m=46 MiB, t=1, p=1
    (2, 19456, 1),  # OWASP: m=19 MiB, t=2, p=1 (the floor)
    (3, 32768, 1),
    (2, 32768, 1),
]


def measure(time_cost: int, memory_kib: int, parallelism: int, rounds: int) -> tuple[float, float]:
    hasher = argon2.PasswordHasher(time_cost=time_cost, memory_cost=memory_kib,
                                   parallelism=parallelism, type=argon2.Type.ID)  # fmt: skip
    hashes, verifies = [], []
    for index in range(rounds):
        began = time.perf_counter()
        encoded = hasher.hash(f"password-{index}")
        hashes.append(time.perf_counter() - began)
        began = time.perf_counter()
        hasher.verify(encoded, f"password-{index}")
        verifies.append(time.perf_counter() - began)
    return statistics.median(hashes) * 1000, statistics.median(verifies) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    default = Settings()
    chosen = (default.argon2_time_cost, default.argon2_memory_kib, default.argon2_parallelism)
    print(f"{cores} cores; medians of {args.rounds} rounds")
    figures = {}
    for profile in [chosen, *(p for p in PROFILES if p != chosen)]:
        hash_ms, verify_ms = measure(*profile, rounds=args.rounds)
        figures[profile] = (hash_ms, verify_ms)
        mark = "  <- default" if profile == chosen else ""
        print(f"t={profile[0]} m={profile[1] // 1024:>3} MiB p={profile[2]}:"
              f" hash {hash_ms:6.1f} ms, verify {verify_ms:6.1f} ms,"
              f" <= {cores * 1000 / verify_ms:5.0f} sign-ins/s on all cores{mark}")  # fmt: skip
    hash_ms, verify_ms = figures[chosen]
    print(f"time_cost={chosen[0]} memory_kib={chosen[1]} parallelism={chosen[2]}"
          f" hash_ms={hash_ms:.1f} verify_ms={verify_ms:.1f}"
          f" max_sign_ins_per_s={cores * 1000 / verify_ms:.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
