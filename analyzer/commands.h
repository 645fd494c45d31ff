/* SPDX-License-Identifier: MIT */
/* The hotalloc subcommands; each returns the process exit status. */
#ifndef HOTALLOC_COMMANDS_H
#define HOTALLOC_COMMANDS_H

#include <stdbool.h>

int ha_cmd_record(int argc, char **argv);
int ha_cmd_report(int argc, char **argv);
int ha_cmd_dump(int argc, char **argv);
int ha_cmd_check(int argc, char **argv);
int ha_cmd_diff(int argc, char **argv);

#endif
