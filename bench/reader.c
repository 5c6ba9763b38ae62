/*
 * The benchmark's baseline: the least work any collector must do to get the content of the
 * cgroup files of one collection. Built by the benchmark with `gcc -O2`.
 *
 *   reader LIST [REPS] [open|kept]
 *
 * LIST names one file per line; a path ending in /ns/net is a namespace link, which is
 * resolved with readlink (as a collector identifies a network namespace) instead of read.
 * Each repetition reads every file once and prints its
 * elapsed wall time in seconds on a line of its own (CLOCK_MONOTONIC).
 *   open (default): open, read to the end, close, for each file.
 *   kept:           open every file once before timing, then each repetition re-reads
 *                   each descriptor with pread at offset 0, as lookout's FileReader does
 *                   (files past the descriptor limit are opened and closed per read).
 * A short read ends a file (a regular file or a kernfs seq_file returns all it has), so
 * a small file costs one read, as in lookout's reader; a full buffer reads on.
 * stderr gets a summary: files, bytes per repetition, descriptors kept.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static char buf[65536];

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long drain(int fd, int positional) {
  long total = 0;
  for (;;) {
    ssize_t n = positional ? pread(fd, buf, sizeof buf, total) : read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    total += n;
    if ((size_t)n < sizeof buf) return total;
  }
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s LIST [REPS] [open|kept]\n", argv[0]);
    return 2;
  }
  int reps = argc > 2 ? atoi(argv[2]) : 1;
  int kept = argc > 3 && strcmp(argv[3], "kept") == 0;

  FILE *lf = fopen(argv[1], "r");
  if (!lf) {
    perror(argv[1]);
    return 1;
  }
  size_t cap = 1024, n = 0;
  char **paths = malloc(cap * sizeof *paths);
  char *line = NULL;
  size_t lcap = 0;
  ssize_t len;
  while ((len = getline(&line, &lcap, lf)) > 0) {
    if (line[len - 1] == '\n') line[--len] = '\0';
    if (len == 0) continue;
    if (n == cap) paths = realloc(paths, (cap *= 2) * sizeof *paths);
    paths[n++] = strdup(line);
  }
  char *islink = calloc(n ? n : 1, 1);
  for (size_t i = 0; i < n; i++) {
    size_t l = strlen(paths[i]);
    islink[i] = l >= 7 && strcmp(paths[i] + l - 7, "/ns/net") == 0;
  }
  fclose(lf);

  int *fds = NULL;
  size_t nkept = 0;
  if (kept) {
    struct rlimit rl;
    size_t room = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
      if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max; /* as Node does at startup */
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
      }
      /* keep a few descriptors free for the files read by open/read/close */
      room = rl.rlim_cur > 64 ? rl.rlim_cur - 64 : 0;
    }
    fds = malloc(n * sizeof *fds);
    for (size_t i = 0; i < n; i++) {
      fds[i] = -1;
      if (nkept >= room || islink[i]) continue;
      fds[i] = open(paths[i], O_RDONLY | O_CLOEXEC);
      if (fds[i] >= 0) nkept++;
      else if (errno != EMFILE && errno != ENFILE) {
        perror(paths[i]);
        return 1;
      }
    }
  }

  long bytes = 0;
  for (int r = 0; r < reps; r++) {
    bytes = 0;
    double t0 = now();
    for (size_t i = 0; i < n; i++) {
      long got;
      if (islink[i]) {
        got = readlink(paths[i], buf, sizeof buf);
      } else if (kept && fds[i] >= 0) {
        got = drain(fds[i], 1);
      } else {
        int fd = open(paths[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
          perror(paths[i]);
          return 1;
        }
        got = drain(fd, 0);
        close(fd);
      }
      if (got < 0) {
        perror(paths[i]);
        return 1;
      }
      bytes += got;
    }
    printf("%.6f\n", now() - t0);
  }
  fprintf(stderr, "files=%zu bytes=%ld kept=%zu\n", n, bytes, nkept);
  return 0;
}
