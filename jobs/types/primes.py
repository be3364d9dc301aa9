"""Prime numbers up to N, for the "primes" job type (primes.ts).

Run by the runner (jobs/runtime/runner.ts): the parameters come as JSON on stdin,
messages go as JSON lines to the descriptor in SIDEJOB_FD, the list of primes
to $SIDEJOB_OUTPUT_DIR/primes.txt. A segmented sieve of Eratosthenes, so
progress comes chunk by chunk and memory stays small. Standard library only.

Run it by hand: echo '{"n": 100}' | python3 jobs/types/primes.py
"""
import json
import math
import os
import sys
import time

CHUNK = 1_000_000  # numbers sieved per segment
REPORT_EVERY_S = 0.25  # at most four progress messages a second


def messages():
    """The message channel, or a stand-in that prints them when run by hand."""
    try:
        return os.fdopen(int(os.environ.get("SIDEJOB_FD", "3")), "w", buffering=1)
    except OSError:
        return sys.stderr


def main():
    params = json.load(sys.stdin)
    n = int(params["n"])
    if n < 2:
        raise SystemExit("n must be at least 2")
    out = messages()

    def send(**message):
        out.write(json.dumps(message) + "\n")

    started = time.monotonic()
    send(total=n, done=0, status=f"Checked 0 of {n:,} numbers")

    # The primes up to sqrt(n), by a plain sieve: they cross out the rest.
    root = math.isqrt(n)
    small = bytearray([1]) * (root + 1)
    small[0:2] = b"\x00\x00"
    for p in range(2, math.isqrt(root) + 1):
        if small[p]:
            small[p * p :: p] = bytes(len(range(p * p, root + 1, p)))
    base = [p for p in range(2, root + 1) if small[p]]

    output_dir = os.environ.get("SIDEJOB_OUTPUT_DIR", ".")
    count = 0
    largest = None
    last_report = 0.0
    with open(os.path.join(output_dir, "primes.txt"), "w") as f:
        for low in range(2, n + 1, CHUNK):
            high = min(low + CHUNK - 1, n)
            segment = bytearray([1]) * (high - low + 1)
            for p in base:
                if p * p > high:
                    break
                start = max(p * p, (low + p - 1) // p * p)
                segment[start - low :: p] = bytes(len(range(start, high + 1, p)))
            found = [low + i for i, is_prime in enumerate(segment) if is_prime]
            if found:
                count += len(found)
                largest = found[-1]
                f.write("\n".join(map(str, found)) + "\n")
            now = time.monotonic()
            if now - last_report >= REPORT_EVERY_S or high == n:
                last_report = now
                send(done=high, status=f"Checked {high:,} of {n:,} numbers")

    seconds = round(time.monotonic() - started, 3)
    send(result={"count": count, "largest": largest, "upTo": n, "seconds": seconds})
    print(f"{count:,} primes up to {n:,} in {seconds} s")


if __name__ == "__main__":
    main()
