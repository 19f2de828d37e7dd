/* tools/commands.h - the `hrm` program's subcommands, one file each (cmd_*.c; cmd_bench in hrm.c),
 * for the table in hrm.c. Each is a cli_command_fn (common/cli.h): argv[0] is its own name, and it
 * returns the exit code. The benchmark's subcommands are bench/'s (bench/bench.h). */
#ifndef HRM_TOOLS_COMMANDS_H
#define HRM_TOOLS_COMMANDS_H

int cmd_backends(const char *prog, int argc, char **argv);
int cmd_bench(const char *prog, int argc, char **argv);
int cmd_convert(const char *prog, int argc, char **argv);
int cmd_data(const char *prog, int argc, char **argv);
int cmd_solve(const char *prog, int argc, char **argv);
int cmd_eval(const char *prog, int argc, char **argv);
int cmd_plot(const char *prog, int argc, char **argv);
int cmd_train(const char *prog, int argc, char **argv);

#endif /* HRM_TOOLS_COMMANDS_H */
