# The statistics of one numeric column of a CSV file: as results (a table on
# the job's page) and as summary.csv. Base R only.
args <- commandArgs(trailingOnly = TRUE)
path <- args[1] # "{file}": the uploaded file's path
column <- args[2]

# fd 3 is a socket, which R cannot open by name (file("/dev/fd/3") fails):
# cat, started through a pipe, passes on what R writes to it.
messages <- pipe("cat >&3", open = "w")
send <- function(json) {
  writeLines(json, messages)
  flush(messages)
}
quoted <- function(text) {
  text <- gsub("[[:cntrl:]]", " ", text)
  paste0('"', gsub('(["\\\\])', "\\\\\\1", text), '"')
}
number <- function(x) if (is.finite(x)) sprintf("%.15g", x) else "null"
fail <- function(message) {
  send(sprintf('{"error": %s}', quoted(message)))
  close(messages)
  quit(status = 1)
}

send('{"total": 2, "status": "Reading the file"}')
data <- tryCatch(
  read.csv(path, check.names = FALSE),
  error = function(e) fail(paste("The file could not be read as CSV:", conditionMessage(e)))
)
send(sprintf('{"done": 1, "status": "Read %d rows"}', nrow(data)))
if (!(column %in% names(data))) {
  fail(sprintf("There is no column %s; the columns are %s.", column, paste(names(data), collapse = ", ")))
}
values <- suppressWarnings(as.numeric(data[[column]]))
if (all(is.na(values))) fail(sprintf("The column %s holds no numbers.", column))
cat(sprintf("%d values, %d missing\n", sum(!is.na(values)), sum(is.na(values)))) # the job's log

q <- quantile(values, c(0.25, 0.5, 0.75), na.rm = TRUE, names = FALSE)
stats <- list(
  count = sum(!is.na(values)), missing = sum(is.na(values)),
  mean = mean(values, na.rm = TRUE), sd = sd(values, na.rm = TRUE),
  min = min(values, na.rm = TRUE), q1 = q[1], median = q[2], q3 = q[3],
  max = max(values, na.rm = TRUE)
)
for (name in names(stats)) {
  send(sprintf('{"result": {"statistic": %s, "value": %s}}', quoted(name), number(stats[[name]])))
}
write.csv(
  data.frame(statistic = names(stats), value = unlist(stats)),
  file.path(Sys.getenv("SIDEJOB_OUTPUT_DIR"), "summary.csv"),
  row.names = FALSE
)
send('{"done": 2, "status": "Done"}')
close(messages)
