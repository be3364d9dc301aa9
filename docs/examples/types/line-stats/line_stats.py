# The most frequent lines of a text file: the first `top` as results, every
# distinct line with its count in counts.csv.
import collections, csv, json, os, sys

path, top = sys.argv[1], int(sys.argv[2])  # "{file}" is the uploaded file's path
messages = os.fdopen(int(os.environ["SIDEJOB_FD"]), "w", buffering=1)


def send(**message):
    messages.write(json.dumps(message) + "\n")


send(status="Counting the lines")
with open(path, encoding="utf-8") as f:
    total = sum(1 for _ in f)
send(total=total, status="Reading the lines")

counts = collections.Counter()
with open(path, encoding="utf-8") as f:
    for done, line in enumerate(f, 1):
        counts[line.rstrip("\r\n")] += 1
        if done % 10_000 == 0:
            send(done=done)
send(done=total, status=f"{total} lines, {len(counts)} different")
print(f"{total} lines, {len(counts)} different", flush=True)  # the job's log

# Records (objects with the same keys): the job's page shows them as a table.
for line, n in counts.most_common(top):
    send(result={"line": line, "count": n, "share": round(n / total, 4)})

with open(os.path.join(os.environ["SIDEJOB_OUTPUT_DIR"], "counts.csv"), "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["line", "count"])
    writer.writerows(counts.most_common())
