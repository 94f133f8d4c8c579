/*
 * cmd_devices.c - `cortex devices`: the compute devices this build and machine offer: the
 * CPU (model, cores, memory, the BLAS that runs matrix products) and every CUDA GPU (name,
 * compute capability, multiprocessors, memory), or the reason there is none. --json prints
 * one object: {"devices": [...], "cuda": {"available": ..., "reason": ...}}.
 */
#include "cli.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static double gib(uint64_t bytes) {
    return (double)bytes / (1024.0 * 1024.0 * 1024.0);
}

static void print_info(const cx_device_info *d) {
    char name[CX_DEVICE_STR_MAX];
    cx_device_str(d->device, name, sizeof name);
    if (d->device.type == CX_DEVICE_CPU) {
        printf("%-8s %s: %d core%s, %.1f GiB memory (%.1f GiB available); matrix products: %s\n",
               name, d->name, d->cores, d->cores == 1 ? "" : "s", gib(d->memory_bytes),
               gib(d->free_bytes), d->blas);
    } else {
        printf("%-8s %s: compute capability %d.%d, %d multiprocessors, %.1f GiB memory (%.1f "
               "GiB free); matrix products: %s\n",
               name, d->name, d->cc_major, d->cc_minor, d->cores, gib(d->memory_bytes),
               gib(d->free_bytes), d->blas);
    }
}

static json_t *info_json(const cx_device_info *d) {
    char name[CX_DEVICE_STR_MAX];
    cx_device_str(d->device, name, sizeof name);
    json_t *o = json_object();
    json_object_set_new(o, "device", json_string(name));
    json_object_set_new(o, "name", json_string(d->name));
    json_object_set_new(o, "memory_bytes", json_integer((json_int_t)d->memory_bytes));
    json_object_set_new(o, "free_bytes", json_integer((json_int_t)d->free_bytes));
    if (d->device.type == CX_DEVICE_CPU) {
        json_object_set_new(o, "cores", json_integer(d->cores));
    } else {
        char cc[32];
        snprintf(cc, sizeof cc, "%d.%d", d->cc_major, d->cc_minor);
        json_object_set_new(o, "compute_capability", json_string(cc));
        json_object_set_new(o, "multiprocessors", json_integer(d->cores));
    }
    json_object_set_new(o, "blas", json_string(d->blas));
    return o;
}

int cmd_devices(int argc, char **argv) {
    bool json = false;
    cli_option options[] = {
        {"--json", OPT_FLAG, &json, NULL, "print one JSON object"},
    };
    cli_command cmd = {
        .name = "devices",
        .usage = "[--json]",
        .about = "Lists the compute devices: the CPU, and every CUDA GPU or the reason there is "
                 "none\n(a build without the CUDA backend, no GPU, no driver).",
        .options = options,
        .n_options = CLI_N(options)};
    int rc = cli_parse(&cmd, argc, argv, NULL);
    if (rc != CLI_OK) return rc == CLI_HELP ? CLI_OK : rc;

    cx_device_info cpu;
    if (cx_device_describe((cx_device){CX_DEVICE_CPU, 0}, &cpu) != CX_OK) return cli_fail(NULL);
    char why[256];
    bool cuda = cx_cuda_available(why, sizeof why);
    int n = cx_cuda_device_count();
    json_t *list = json ? json_array() : NULL;
    if (json)
        json_array_append_new(list, info_json(&cpu));
    else
        print_info(&cpu);
    if (!cuda && !json) printf("%-8s unavailable: %s\n", "cuda", why);
    rc = CLI_OK;
    for (int i = 0; i < n; i++) {
        cx_device_info d;
        if (cx_device_describe((cx_device){CX_DEVICE_CUDA, i}, &d) != CX_OK) {
            rc = cli_fail(NULL); /* the others are still listed */
            continue;
        }
        if (json)
            json_array_append_new(list, info_json(&d));
        else
            print_info(&d);
    }
    if (json) {
        json_t *o = json_object(), *c = json_object();
        json_object_set_new(o, "devices", list);
        json_object_set_new(c, "available", json_boolean(cuda));
        json_object_set_new(c, "devices", json_integer(n));
        json_object_set_new(c, "reason", cuda ? json_null() : json_string(why));
        json_object_set_new(o, "cuda", c);
        char *text = json_dumps(o, JSON_COMPACT);
        if (text) printf("%s\n", text);
        free(text);
        json_decref(o);
    }
    return rc;
}
