import { type Static, Type } from '@sinclair/typebox';
import { Duration } from '../../src/schema.js';

export const configSchema = Type.Object(
  {
    enabled: Type.Boolean({
      default: true,
      description: 'Follow container log files. The collector stays idle unless a log destination is configured (`exporters.file`, or `--log-output-file`).',
    }),
    docker: Type.Boolean({ default: true, description: "Follow Docker's `json-file` logs: `<docker_data_root>/containers/<id>/<id>-json.log` and its rotated `.1`, `.2`, ... (`.N.gz` with `--log-opt compress=true`)." }),
    docker_data_root: Type.String({ default: '/var/lib/docker', minLength: 1, description: "Docker's data root, under the host root." }),
    cri: Type.Boolean({
      default: true,
      description: 'Follow CRI-format logs written by containerd and CRI-O for the kubelet: `<pods_dir>/<namespace>_<pod>_<uid>/<container>/<attempt>.log` and its rotated `<attempt>.log.<timestamp>` (and `.gz` when the kubelet compressed them).',
    }),
    podman: Type.Boolean({
      default: true,
      description:
        "Follow Podman's `k8s-file` logs (CRI format): `<podman_storage_root>/overlay-containers/<id>/userdata/ctr.log`. Podman's `journald` log driver (its default where systemd runs) writes to the journal instead, which is not read; containers started with `--log-opt path=...` write elsewhere (list those under `files`).",
    }),
    podman_storage_root: Type.String({ default: '/var/lib/containers/storage', minLength: 1, description: "containers/storage's graph root (Podman's `graphroot`), under the host root." }),
    files: Type.Array(
      Type.Object(
        {
          path: Type.String({
            minLength: 2,
            pattern: '^/',
            description: 'Absolute path under the host root; `*`, `?` and `[...]` match within a path segment, `**` any number of directories (at most 8). Each matching file is followed on its own; rotated copies should not match (a file renamed away is read to its end anyway).',
          }),
          format: Type.Union([Type.Literal('cri'), Type.Literal('docker')], {
            default: 'cri',
            description: 'How its lines are written: `cri` (`<time> <stream> <F|P> <message>`) or `docker` (json-file objects).',
          }),
          labels: Type.Record(Type.String({ pattern: '^[a-zA-Z_][a-zA-Z0-9_]*$' }), Type.String(), {
            default: {},
            description: 'Labels for its records and log metrics; they replace `id`, `image` and `name` (all empty for a file no container owns) when given the same name.',
          }),
        },
        { additionalProperties: false },
      ),
      {
        default: [],
        description: 'More log files to follow, such as `{path: "/var/log/app/*.log", format: cri, labels: {name: app}}`. Found by the rescan and, with `watch`, by chokidar on the directory each pattern starts from.',
      },
    ),
    pods_dir: Type.String({ default: '/var/log/pods', minLength: 1, description: "The kubelet's pod log directory, under the host root." }),
    containers_dir: Type.String({
      default: '/var/log/containers',
      minLength: 1,
      description: "The kubelet's `<pod>_<namespace>_<container>-<id>.log` symlinks, under the host root; they give CRI logs their container id.",
    }),
    watch: Type.Boolean({
      default: true,
      description: 'Watch the log directories (chokidar, inotify) for prompt pickup of new containers; falls back to polling when the inotify watch limit is reached. The periodic rescan runs either way.',
    }),
    rescan_interval: Duration('1s', 'How often the log directories are listed again, as the safety net for missed events (new containers, rotations).'),
    poll_interval: Duration('250ms', 'How often followed files are checked for new data when no event announced it.'),
    max_line_bytes: Type.Integer({
      minimum: 1024,
      default: 262144,
      description:
        'Longest message kept, in bytes, after partial lines are joined. A longer line is cut there, ends in ` [lookout: truncated]`, and is counted in `lookout_log_truncated_lines_total`; the rest of it is skipped without being held in memory.',
    }),
    partial_timeout: Duration('5s', 'A partial line (Docker\'s 16 KiB split, CRI `P`) whose continuation does not come within this long is sent as it is.'),
    rotate_wait: Duration('5s', 'A rotated file is kept open this long after its end was reached, for lines its writer still adds before reopening.'),
    batch_max_lines: Type.Integer({ minimum: 1, default: 2000, description: 'Most records handed to the destinations at once. A crash repeats at most one such batch.' }),
    batch_max_bytes: Type.Integer({ minimum: 1024, default: 2097152, description: 'Most message bytes handed to the destinations at once.' }),
    multiline_start: Type.String({
      default: '',
      description:
        'Multi-line records (stack traces): a regular expression a line matches when it starts a record, e.g. `^\\S` (continuation lines are indented) or `^\\d{4}-\\d{2}-\\d{2}`; other lines are added, after a newline, to the record before them. Empty: every line is a record.',
    }),
    multiline_timeout: Duration('1s', 'A multi-line record is sent when the next one starts, or when no line was added to it for this long.'),
    keep: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description: 'When set, only lines whose message matches one of these regular expressions (JavaScript syntax) are sent; the others are counted in `lookout_log_dropped_lines_total{reason="filter"}`.',
    }),
    drop: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description: 'Lines whose message matches one of these regular expressions are not sent (counted in `lookout_log_dropped_lines_total{reason="filter"}`).',
    }),
    redact: Type.Array(
      Type.Object(
        {
          pattern: Type.String({ minLength: 1, description: 'Regular expression; every match is replaced.' }),
          replacement: Type.String({ default: '[REDACTED]', description: 'What replaces a match; `$1` and the like refer to its groups.' }),
        },
        { additionalProperties: false },
      ),
      {
        default: [],
        description: 'Replacements applied to every message before it leaves the node (after keep/drop, before JSON parsing), e.g. `{pattern: "(password|token)=\\S+", replacement: "$1=[REDACTED]"}`.',
      },
    ),
    parse_json: Type.Boolean({ default: false, description: 'When a message is a JSON object, send its keys as the record\'s `fields` (the message is kept as it is).' }),
    detect_level: Type.Boolean({
      default: false,
      description:
        'Give records a `level` (trace, debug, info, warn, error, fatal) from a `level`/`severity` field, a `level=...` pair, or a level word such as `ERROR` or `[warn]` near the start of the message; `lookout_log_lines_total` then counts by level too.',
    }),
    checkpoint_interval: Duration(
      '1s',
      'How often the checkpoints are written whole (fsync, rename) to `<state_dir>/logs/checkpoints.json`; between those, each delivered batch appends its offsets to a journal beside it.',
    ),
  },
  { additionalProperties: false },
);

export type LogsConfig = Static<typeof configSchema>;
