/* A fake libnvidia-ml.so.1: exactly the NVML functions jobcarbon calls, driven by the scenario
 * file named by FAKE_NVML_SCENARIO (format in README.md). Without that variable it behaves like
 * a machine whose NVIDIA driver is not loaded, so a test of "no GPU" must say so explicitly.
 *
 * Values are re-read on every call (state files) so another process can advance a GPU's energy
 * while a sensor runs, which is how the end-to-end tests drive it. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* NVML's C types, same layout and values as nvml.h. */
typedef int nvmlReturn_t;
enum {
  NVML_SUCCESS = 0,
  NVML_ERROR_UNINITIALIZED = 1,
  NVML_ERROR_INVALID_ARGUMENT = 2,
  NVML_ERROR_NOT_SUPPORTED = 3,
  NVML_ERROR_NO_PERMISSION = 4,
  NVML_ERROR_NOT_FOUND = 6,
  NVML_ERROR_INSUFFICIENT_SIZE = 7,
  NVML_ERROR_DRIVER_NOT_LOADED = 9,
  NVML_ERROR_GPU_IS_LOST = 15,
  NVML_ERROR_UNKNOWN = 999,
};

typedef struct {
  char busIdLegacy[16];
  unsigned int domain;
  unsigned int bus;
  unsigned int device;
  unsigned int pciDeviceId;
  unsigned int pciSubSystemId;
  char busId[32];
} nvmlPciInfo_t;

#define TRACE_LOST (-1LL)

struct trace {
  long long* values; /* TRACE_LOST for "lost" */
  size_t count;
  unsigned long long calls;
};

struct fake_gpu {
  char uuid[96];
  char name[96];
  char pci_bus_id[32];
  int has_energy_counter;
  int handle_error;
  char* state_file;
  struct trace energy_trace;
  struct trace power_trace;
  unsigned long long trace_step_us;
  unsigned long long energy_mj;
  unsigned int power_mw;
  long long lost_after; /* -1: never */
  unsigned long long reads;
};

typedef struct fake_gpu* nvmlDevice_t;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_refcount;
static struct fake_gpu* g_gpus;
static size_t g_gpu_count;
static struct timespec g_start;

static void free_scenario(void) {
  for (size_t i = 0; i < g_gpu_count; ++i) {
    free(g_gpus[i].state_file);
    free(g_gpus[i].energy_trace.values);
    free(g_gpus[i].power_trace.values);
  }
  free(g_gpus);
  g_gpus = NULL;
  g_gpu_count = 0;
}

static void copy_string(char* dst, size_t size, const char* src) {
  snprintf(dst, size, "%s", src);
}

static int parse_ull(const char* s, unsigned long long* out) {
  char* end = NULL;
  if (*s == '\0' || *s == '-') return 0;
  errno = 0;
  *out = strtoull(s, &end, 10);
  return errno == 0 && *end == '\0';
}

static int parse_trace(char* text, struct trace* trace) {
  free(trace->values);
  trace->values = NULL;
  trace->count = 0;
  size_t capacity = 0;
  for (char* save = NULL, *tok = strtok_r(text, " \t", &save); tok != NULL;
       tok = strtok_r(NULL, " \t", &save)) {
    long long value;
    unsigned long long parsed;
    if (strcmp(tok, "lost") == 0) {
      value = TRACE_LOST;
    } else if (parse_ull(tok, &parsed) && parsed <= (unsigned long long)9223372036854775807LL) {
      value = (long long)parsed;
    } else {
      return 0;
    }
    if (trace->count == capacity) {
      capacity = capacity == 0 ? 64 : capacity * 2;
      long long* grown = realloc(trace->values, capacity * sizeof *grown);
      if (grown == NULL) return 0;
      trace->values = grown;
    }
    trace->values[trace->count++] = value;
  }
  return trace->count > 0;
}

static void default_gpu(struct fake_gpu* gpu, size_t index) {
  memset(gpu, 0, sizeof *gpu);
  snprintf(gpu->uuid, sizeof gpu->uuid, "GPU-00000000-0000-0000-0000-%012zu", index);
  copy_string(gpu->name, sizeof gpu->name, "Fake NVIDIA GPU");
  snprintf(gpu->pci_bus_id, sizeof gpu->pci_bus_id, "00000000:%02zX:00.0", index + 1);
  gpu->has_energy_counter = 1;
  gpu->lost_after = -1;
}

/* Return NVML_SUCCESS, or an error after printing why the scenario is bad: a broken fixture
 * must fail loudly, not look like a machine without GPUs. */
static nvmlReturn_t load_scenario(const char* path, nvmlReturn_t* init_error) {
  FILE* file = fopen(path, "r");
  if (file == NULL) {
    fprintf(stderr, "fake_nvml: cannot open scenario %s: %s\n", path, strerror(errno));
    return NVML_ERROR_UNKNOWN;
  }
  /* Relative state files are relative to the scenario's directory. */
  char dir[4096];
  copy_string(dir, sizeof dir, path);
  char* slash = strrchr(dir, '/');
  if (slash != NULL) {
    slash[1] = '\0';
  } else {
    dir[0] = '\0';
  }

  char line[65536];
  int line_number = 0;
  nvmlReturn_t result = NVML_SUCCESS;
  while (result == NVML_SUCCESS && fgets(line, sizeof line, file) != NULL) {
    ++line_number;
    char* hash = strchr(line, '#');
    if (hash != NULL) *hash = '\0';
    size_t len = strlen(line);
    while (len > 0 && strchr(" \t\r\n", line[len - 1]) != NULL) line[--len] = '\0';
    char* key = line + strspn(line, " \t");
    if (*key == '\0') continue;
    char* value = key + strcspn(key, " \t");
    if (*value != '\0') {
      *value++ = '\0';
      value += strspn(value, " \t");
    }

    unsigned long long number = 0;
    struct fake_gpu* gpu = g_gpu_count > 0 ? &g_gpus[g_gpu_count - 1] : NULL;
    int ok = 1;
    if (strcmp(key, "gpu") == 0) {
      struct fake_gpu* grown = realloc(g_gpus, (g_gpu_count + 1) * sizeof *grown);
      if (grown == NULL) {
        ok = 0;
      } else {
        g_gpus = grown;
        default_gpu(&g_gpus[g_gpu_count], g_gpu_count);
        ++g_gpu_count;
      }
    } else if (strcmp(key, "init_error") == 0) {
      ok = parse_ull(value, &number) && number > 0 && number <= 999;
      if (ok) *init_error = (nvmlReturn_t)number;
    } else if (gpu == NULL) {
      ok = 0;
    } else if (strcmp(key, "uuid") == 0) {
      copy_string(gpu->uuid, sizeof gpu->uuid, value);
    } else if (strcmp(key, "name") == 0) {
      copy_string(gpu->name, sizeof gpu->name, value);
    } else if (strcmp(key, "pci_bus_id") == 0) {
      copy_string(gpu->pci_bus_id, sizeof gpu->pci_bus_id, value);
    } else if (strcmp(key, "energy_counter") == 0) {
      ok = strcmp(value, "yes") == 0 || strcmp(value, "no") == 0;
      gpu->has_energy_counter = strcmp(value, "yes") == 0;
    } else if (strcmp(key, "energy_mj") == 0) {
      ok = parse_ull(value, &gpu->energy_mj);
    } else if (strcmp(key, "power_mw") == 0) {
      ok = parse_ull(value, &number) && number <= 0xffffffffULL;
      gpu->power_mw = (unsigned int)number;
    } else if (strcmp(key, "state_file") == 0) {
      free(gpu->state_file);
      gpu->state_file = NULL;
      ok = *value != '\0' &&
           asprintf(&gpu->state_file, "%s%s", value[0] == '/' ? "" : dir, value) >= 0;
    } else if (strcmp(key, "energy_trace") == 0) {
      ok = parse_trace(value, &gpu->energy_trace);
    } else if (strcmp(key, "power_trace") == 0) {
      ok = parse_trace(value, &gpu->power_trace);
      for (size_t i = 0; ok && i < gpu->power_trace.count; ++i) {
        ok = gpu->power_trace.values[i] <= 0xffffffffLL;
      }
    } else if (strcmp(key, "trace_step_us") == 0) {
      ok = parse_ull(value, &gpu->trace_step_us);
    } else if (strcmp(key, "lost_after") == 0) {
      ok = parse_ull(value, &number) && number < 9223372036854775807ULL;
      gpu->lost_after = (long long)number;
    } else if (strcmp(key, "handle_error") == 0) {
      ok = parse_ull(value, &number) && number > 0 && number <= 999;
      gpu->handle_error = (int)number;
    } else {
      ok = 0;
    }
    if (!ok) {
      fprintf(stderr, "fake_nvml: %s:%d: bad line (key '%s')\n", path, line_number, key);
      result = NVML_ERROR_UNKNOWN;
    }
  }
  fclose(file);
  if (result != NVML_SUCCESS) free_scenario();
  return result;
}

static unsigned long long elapsed_us(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  const long long us = (long long)(now.tv_sec - g_start.tv_sec) * 1000000LL +
                       (long long)(now.tv_nsec - g_start.tv_nsec) / 1000;
  return us > 0 ? (unsigned long long)us : 0;
}

static int valid_device(nvmlDevice_t device) {
  return g_refcount > 0 && device != NULL && device >= g_gpus && device < g_gpus + g_gpu_count;
}

/* Return the current entry of a trace: per call, or per trace_step_us of time since init. The
 * last entry repeats once the trace is exhausted. */
static long long trace_value(struct trace* trace, unsigned long long step_us) {
  unsigned long long index = step_us > 0 ? elapsed_us() / step_us : trace->calls;
  ++trace->calls;
  if (index >= trace->count) index = trace->count - 1;
  return trace->values[index];
}

/* Read "<energy_mJ> <power_mW>" or "lost" from the GPU's state file. */
static nvmlReturn_t read_state(const struct fake_gpu* gpu, unsigned long long* energy_mj,
                               unsigned int* power_mw) {
  FILE* file = fopen(gpu->state_file, "r");
  if (file == NULL) {
    fprintf(stderr, "fake_nvml: cannot open state file %s: %s\n", gpu->state_file,
            strerror(errno));
    return NVML_ERROR_UNKNOWN;
  }
  char text[256] = {0};
  const size_t n = fread(text, 1, sizeof text - 1, file);
  fclose(file);
  text[n] = '\0';
  char word[16];
  if (sscanf(text, " %15s", word) == 1 && strcmp(word, "lost") == 0) return NVML_ERROR_GPU_IS_LOST;
  unsigned long long energy = 0, power = 0;
  char extra[2];
  if (sscanf(text, " %llu %llu %1s", &energy, &power, extra) != 2 || power > 0xffffffffULL) {
    fprintf(stderr, "fake_nvml: state file %s: expected '<energy_mJ> <power_mW>' or 'lost'\n",
            gpu->state_file);
    return NVML_ERROR_UNKNOWN;
  }
  *energy_mj = energy;
  *power_mw = (unsigned int)power;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlInit_v2(void) {
  pthread_mutex_lock(&g_lock);
  nvmlReturn_t result = NVML_SUCCESS;
  if (g_refcount == 0) {
    const char* path = getenv("FAKE_NVML_SCENARIO");
    nvmlReturn_t init_error = NVML_SUCCESS;
    if (path == NULL || *path == '\0') {
      result = NVML_ERROR_DRIVER_NOT_LOADED;
    } else {
      result = load_scenario(path, &init_error);
      if (result == NVML_SUCCESS && init_error != NVML_SUCCESS) {
        free_scenario();
        result = init_error;
      }
    }
    if (result == NVML_SUCCESS) clock_gettime(CLOCK_MONOTONIC, &g_start);
  }
  if (result == NVML_SUCCESS) ++g_refcount;
  pthread_mutex_unlock(&g_lock);
  return result;
}

nvmlReturn_t nvmlShutdown(void) {
  pthread_mutex_lock(&g_lock);
  nvmlReturn_t result = NVML_SUCCESS;
  if (g_refcount == 0) {
    result = NVML_ERROR_UNINITIALIZED;
  } else if (--g_refcount == 0) {
    free_scenario();
  }
  pthread_mutex_unlock(&g_lock);
  return result;
}

const char* nvmlErrorString(nvmlReturn_t result) {
  switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
    case NVML_ERROR_NOT_FOUND: return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    case NVML_ERROR_UNKNOWN: return "Unknown Error";
    default: return "Unknown Error";
  }
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int* count) {
  if (count == NULL) return NVML_ERROR_INVALID_ARGUMENT;
  pthread_mutex_lock(&g_lock);
  nvmlReturn_t result = g_refcount > 0 ? NVML_SUCCESS : NVML_ERROR_UNINITIALIZED;
  if (result == NVML_SUCCESS) *count = (unsigned int)g_gpu_count;
  pthread_mutex_unlock(&g_lock);
  return result;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t* device) {
  if (device == NULL) return NVML_ERROR_INVALID_ARGUMENT;
  pthread_mutex_lock(&g_lock);
  nvmlReturn_t result = NVML_SUCCESS;
  if (g_refcount == 0) {
    result = NVML_ERROR_UNINITIALIZED;
  } else if (index >= g_gpu_count) {
    result = NVML_ERROR_INVALID_ARGUMENT;
  } else if (g_gpus[index].handle_error != 0) {
    result = g_gpus[index].handle_error;
  } else {
    *device = &g_gpus[index];
  }
  pthread_mutex_unlock(&g_lock);
  return result;
}

static nvmlReturn_t copy_out(nvmlDevice_t device, const char* (*field)(nvmlDevice_t), char* out,
                             unsigned int length) {
  if (out == NULL) return NVML_ERROR_INVALID_ARGUMENT;
  pthread_mutex_lock(&g_lock);
  nvmlReturn_t result = NVML_SUCCESS;
  if (!valid_device(device)) {
    result = g_refcount == 0 ? NVML_ERROR_UNINITIALIZED : NVML_ERROR_INVALID_ARGUMENT;
  } else if (strlen(field(device)) + 1 > length) {
    result = NVML_ERROR_INSUFFICIENT_SIZE;
  } else {
    strcpy(out, field(device));
  }
  pthread_mutex_unlock(&g_lock);
  return result;
}

static const char* name_of(nvmlDevice_t device) { return device->name; }
static const char* uuid_of(nvmlDevice_t device) { return device->uuid; }

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char* name, unsigned int length) {
  return copy_out(device, name_of, name, length);
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char* uuid, unsigned int length) {
  return copy_out(device, uuid_of, uuid, length);
}

nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t* pci) {
  if (pci == NULL) return NVML_ERROR_INVALID_ARGUMENT;
  pthread_mutex_lock(&g_lock);
  nvmlReturn_t result = NVML_SUCCESS;
  if (!valid_device(device)) {
    result = g_refcount == 0 ? NVML_ERROR_UNINITIALIZED : NVML_ERROR_INVALID_ARGUMENT;
  } else {
    memset(pci, 0, sizeof *pci);
    copy_string(pci->busId, sizeof pci->busId, device->pci_bus_id);
    copy_string(pci->busIdLegacy, sizeof pci->busIdLegacy, device->pci_bus_id + 4);
    sscanf(device->pci_bus_id, "%x:%x:%x", &pci->domain, &pci->bus, &pci->device);
  }
  pthread_mutex_unlock(&g_lock);
  return result;
}

/* The common path of the two reads: count the call, apply lost_after. */
static nvmlReturn_t begin_read(nvmlDevice_t device) {
  if (!valid_device(device)) {
    return g_refcount == 0 ? NVML_ERROR_UNINITIALIZED : NVML_ERROR_INVALID_ARGUMENT;
  }
  ++device->reads;
  if (device->lost_after >= 0 && device->reads > (unsigned long long)device->lost_after) {
    return NVML_ERROR_GPU_IS_LOST;
  }
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device, unsigned long long* energy) {
  if (energy == NULL) return NVML_ERROR_INVALID_ARGUMENT;
  pthread_mutex_lock(&g_lock);
  nvmlReturn_t result = begin_read(device);
  if (result == NVML_SUCCESS && !device->has_energy_counter) result = NVML_ERROR_NOT_SUPPORTED;
  if (result == NVML_SUCCESS) {
    if (device->state_file != NULL) {
      unsigned int power_mw;
      result = read_state(device, energy, &power_mw);
    } else if (device->energy_trace.count > 0) {
      const long long value = trace_value(&device->energy_trace, device->trace_step_us);
      if (value == TRACE_LOST) {
        result = NVML_ERROR_GPU_IS_LOST;
      } else {
        *energy = (unsigned long long)value;
      }
    } else {
      *energy = device->energy_mj;
    }
  }
  pthread_mutex_unlock(&g_lock);
  return result;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int* power) {
  if (power == NULL) return NVML_ERROR_INVALID_ARGUMENT;
  pthread_mutex_lock(&g_lock);
  nvmlReturn_t result = begin_read(device);
  if (result == NVML_SUCCESS) {
    if (device->state_file != NULL) {
      unsigned long long energy_mj;
      result = read_state(device, &energy_mj, power);
    } else if (device->power_trace.count > 0) {
      const long long value = trace_value(&device->power_trace, device->trace_step_us);
      if (value == TRACE_LOST) {
        result = NVML_ERROR_GPU_IS_LOST;
      } else {
        *power = (unsigned int)value;
      }
    } else {
      *power = device->power_mw;
    }
  }
  pthread_mutex_unlock(&g_lock);
  return result;
}
