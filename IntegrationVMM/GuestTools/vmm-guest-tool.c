// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//
// vmm-guest-tool: what the integration tests run inside the guest where busybox has no
// applet for it. Built on the host as a static binary (`cc -static -O2`) and handed to the
// guest on a read-only virtio-blk disk. Everything here runs in guest user mode, which PVM
// runs natively; the point of each subcommand is to keep data out of guest kernel copies,
// which PVM emulates slowly.
//
//   write-pattern FILE MIB      O_DIRECT writes of the pattern below, then fsync
//   check-pattern FILE MIB      O_DIRECT reads; prints PATTERN-OK or the first bad offset
//   vsock-echo PORT             accepts one vsock connection on PORT and echoes it to EOF
//   vsock-send CID PORT TEXT    connects, sends TEXT, prints what comes back
//   tcp-send HOST PORT MIB      sends MIB MiB of the pattern over TCP (MSG_ZEROCOPY), prints the time
//   tcp-receive ADDR PORT       (host side) accepts one connection, checks every byte against
//                               the pattern, prints TCP-RECEIVED <bytes> <ok|bad at N>
//   bench-io DEVICE MIB OPS     O_DIRECT on a raw disk: sequential 1 MiB writes and reads over
//                               MIB MiB, then OPS random 4 KiB writes and reads; one line each
//
// The pattern: 64-bit little-endian word i (at byte offset 8i) is (8i * K) ^ SEED, so the
// host can check any byte without storing a copy (IntegrationVMM tests: GuestPattern).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1 << 20)
static const uint64_t K = 0x9E3779B97F4A7C15ull;
static const uint64_t SEED = 0x5357564D2D564D4Dull;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void fill(uint64_t *words, uint64_t offset) {
    for (size_t i = 0; i < CHUNK / 8; i++) words[i] = ((offset + 8 * i) * K) ^ SEED;
}

static int fail(const char *what) {
    printf("TOOL-ERROR %s: %s\n", what, strerror(errno));
    return 1;
}

static int write_pattern(const char *path, long mib) {
    uint64_t *buffer;
    if (posix_memalign((void **)&buffer, 4096, CHUNK)) return fail("posix_memalign");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT, 0644);
    if (fd < 0) return fail("open");
    double start = now();
    for (long i = 0; i < mib; i++) {
        fill(buffer, (uint64_t)i * CHUNK);
        if (write(fd, buffer, CHUNK) != CHUNK) return fail("write");
    }
    if (fsync(fd)) return fail("fsync");
    close(fd);
    printf("PATTERN-WRITTEN %ld MiB in %.2f s\n", mib, now() - start);
    return 0;
}

static int check_pattern(const char *path, long mib) {
    uint64_t *buffer, *expected = malloc(CHUNK);
    if (!expected || posix_memalign((void **)&buffer, 4096, CHUNK)) return fail("allocate");
    int fd = open(path, O_RDONLY | O_DIRECT);
    if (fd < 0) return fail("open");
    double start = now();
    for (long i = 0; i < mib; i++) {
        if (read(fd, buffer, CHUNK) != CHUNK) return fail("read");
        fill(expected, (uint64_t)i * CHUNK);
        if (memcmp(buffer, expected, CHUNK)) {
            printf("PATTERN-BAD in MiB %ld\n", i);
            return 1;
        }
    }
    printf("PATTERN-OK %ld MiB in %.2f s\n", mib, now() - start);
    return 0;
}

static int vsock_echo(unsigned port) {
    int listener = socket(AF_VSOCK, SOCK_STREAM, 0);
    if (listener < 0) return fail("socket");
    struct sockaddr_vm address = {.svm_family = AF_VSOCK, .svm_port = port, .svm_cid = VMADDR_CID_ANY};
    if (bind(listener, (struct sockaddr *)&address, sizeof address) || listen(listener, 1)) return fail("bind");
    printf("VSOCK-LISTENING %u\n", port);
    fflush(stdout);
    int connection = accept(listener, NULL, NULL);
    if (connection < 0) return fail("accept");
    char buffer[4096];
    ssize_t count;
    long total = 0;
    while ((count = read(connection, buffer, sizeof buffer)) > 0) {
        for (ssize_t done = 0; done < count;) {
            ssize_t written = write(connection, buffer + done, count - done);
            if (written <= 0) return fail("write");
            done += written;
        }
        total += count;
    }
    printf("VSOCK-ECHOED %ld\n", total);
    close(connection);
    return 0;
}

static int vsock_send(unsigned cid, unsigned port, const char *text) {
    int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
    if (fd < 0) return fail("socket");
    struct sockaddr_vm address = {.svm_family = AF_VSOCK, .svm_port = port, .svm_cid = cid};
    if (connect(fd, (struct sockaddr *)&address, sizeof address)) return fail("connect");
    size_t length = strlen(text);
    if (write(fd, text, length) != (ssize_t)length) return fail("write");
    shutdown(fd, SHUT_WR);
    char buffer[4096];
    size_t total = 0;
    ssize_t count;
    while (total < sizeof buffer - 1 && (count = read(fd, buffer + total, sizeof buffer - 1 - total)) > 0)
        total += count;
    buffer[total] = 0;
    printf("VSOCK-REPLY %s\n", buffer);
    close(fd);
    return 0;
}

// MSG_ZEROCOPY bookkeeping: every send() that queued data has the next id; the kernel
// reports finished ids in ranges on the socket's error queue.
struct zerocopy {
    unsigned char *done;  // done[id] once the kernel no longer reads that send's pages
    uint32_t capacity, next_id, first_pending;
};

static int zerocopy_drain(int fd, struct zerocopy *z, int wait) {
    for (;;) {
        char control[128];
        struct msghdr message = {.msg_control = control, .msg_controllen = sizeof control};
        if (recvmsg(fd, &message, MSG_ERRQUEUE | (wait ? 0 : MSG_DONTWAIT)) < 0) {
            if (errno == EAGAIN && wait) {
                struct pollfd p = {.fd = fd, .events = 0};
                poll(&p, 1, 1000);
                continue;
            }
            return errno == EAGAIN ? 0 : -1;
        }
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&message); c; c = CMSG_NXTHDR(&message, c)) {
            struct sock_extended_err *e = (struct sock_extended_err *)CMSG_DATA(c);
            if (e->ee_origin != SO_EE_ORIGIN_ZEROCOPY) continue;
            for (uint32_t id = e->ee_info; id <= e->ee_data && id < z->capacity; id++) z->done[id] = 1;
        }
        while (z->first_pending < z->next_id && z->done[z->first_pending]) z->first_pending++;
        wait = 0;
    }
}

static int tcp_send(const char *host, unsigned port, long mib) {
    // Guest kernel copies (and zeroing fresh pages) run at a few hundred KB/s in PVM's
    // emulated kernel mode, so the data is sent with MSG_ZEROCOPY from a 16 MiB ring of
    // 1 MiB slots the program refills (in user mode, native speed) once the kernel has
    // released a slot's pages.
    enum { SLOTS = 16 };
    unsigned char *ring;
    if (posix_memalign((void **)&ring, 4096, (size_t)SLOTS * CHUNK)) return fail("posix_memalign");
    uint32_t *slot_last_id = calloc(SLOTS, sizeof *slot_last_id);
    struct zerocopy z = {.capacity = (uint32_t)mib * 1024 + 1024};
    z.done = calloc(z.capacity, 1);
    if (!slot_last_id || !z.done) return fail("calloc");
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (fd < 0 || inet_pton(AF_INET, host, &address.sin_addr) != 1) return fail("socket");
    int one = 1;
    int flags = setsockopt(fd, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof one) == 0 ? MSG_ZEROCOPY : 0;
    if (connect(fd, (struct sockaddr *)&address, sizeof address)) return fail("connect");
    double start = now();
    for (long i = 0; i < mib; i++) {
        unsigned char *slot = ring + (size_t)(i % SLOTS) * CHUNK;
        if (flags && i >= SLOTS) {
            while (z.first_pending <= slot_last_id[i % SLOTS])
                if (zerocopy_drain(fd, &z, 1) < 0) return fail("recvmsg(MSG_ERRQUEUE)");
        }
        fill((uint64_t *)slot, (uint64_t)i * CHUNK);
        for (size_t done = 0; done < CHUNK;) {
            ssize_t sent = send(fd, slot + done, CHUNK - done, flags);
            if (sent <= 0) return fail("send");
            done += sent;
            if (flags) {
                slot_last_id[i % SLOTS] = z.next_id++;
                if (z.next_id >= z.capacity) return fail("too many sends");
            }
        }
        if (flags && zerocopy_drain(fd, &z, 0) < 0) return fail("recvmsg(MSG_ERRQUEUE)");
    }
    shutdown(fd, SHUT_WR);
    char byte;
    while (read(fd, &byte, 1) > 0) {}  // the host closes once it has everything
    close(fd);
    printf("TCP-SENT %ld MiB in %.2f s (%s)\n", mib, now() - start, flags ? "zerocopy" : "copied");
    return 0;
}

static int tcp_receive(const char *host, unsigned port) {
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
    int one = 1;
    if (listener < 0 || inet_pton(AF_INET, host, &address.sin_addr) != 1) return fail("socket");
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(listener, (struct sockaddr *)&address, sizeof address) || listen(listener, 1)) return fail("bind");
    printf("TCP-LISTENING %s:%u\n", host, port);
    int fd = accept(listener, NULL, NULL);
    if (fd < 0) return fail("accept");
    static unsigned char buffer[1 << 16];
    uint64_t offset = 0, bad = UINT64_MAX;
    ssize_t count;
    while ((count = read(fd, buffer, sizeof buffer)) > 0) {
        for (ssize_t i = 0; i < count; i++, offset++) {
            uint64_t word = ((offset & ~7ull) * K) ^ SEED;
            if (bad == UINT64_MAX && buffer[i] != (unsigned char)(word >> (8 * (offset & 7)))) bad = offset;
        }
    }
    close(fd);
    if (bad == UINT64_MAX) printf("TCP-RECEIVED %llu ok\n", (unsigned long long)offset);
    else printf("TCP-RECEIVED %llu bad at %llu\n", (unsigned long long)offset, (unsigned long long)bad);
    return bad == UINT64_MAX ? 0 : 1;
}

static uint64_t next_random(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int bench_io(const char *device, long mib, long ops) {
    uint64_t *buffer;
    if (posix_memalign((void **)&buffer, 4096, CHUNK)) return fail("posix_memalign");
    fill(buffer, 0);
    int fd = open(device, O_RDWR | O_DIRECT);
    if (fd < 0) return fail("open");
    for (int pass = 0; pass < 2; pass++) {
        double start = now();
        for (long i = 0; i < mib; i++) {
            ssize_t done = pass == 0 ? pwrite(fd, buffer, CHUNK, (off_t)i * CHUNK) : pread(fd, buffer, CHUNK, (off_t)i * CHUNK);
            if (done != CHUNK) return fail(pass == 0 ? "pwrite" : "pread");
        }
        if (pass == 0 && fsync(fd)) return fail("fsync");
        double seconds = now() - start;
        printf("BENCH-IO %s-1MiB %.3f MiB/s (%ld MiB in %.3f s)\n", pass == 0 ? "seq-write" : "seq-read",
               mib / seconds, mib, seconds);
    }
    long blocks = mib * (CHUNK / 4096);
    for (int pass = 0; pass < 2; pass++) {
        uint64_t state = 42;
        double start = now();
        for (long i = 0; i < ops; i++) {
            off_t offset = (off_t)(next_random(&state) % blocks) * 4096;
            ssize_t done = pass == 0 ? pwrite(fd, buffer, 4096, offset) : pread(fd, buffer, 4096, offset);
            if (done != 4096) return fail(pass == 0 ? "pwrite" : "pread");
        }
        if (pass == 0 && fsync(fd)) return fail("fsync");
        double seconds = now() - start;
        printf("BENCH-IO %s-4KiB %.1f IOPS (%ld ops in %.3f s)\n", pass == 0 ? "rand-write" : "rand-read",
               ops / seconds, ops, seconds);
    }
    close(fd);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 4 && !strcmp(argv[1], "write-pattern")) return write_pattern(argv[2], atol(argv[3]));
    if (argc == 4 && !strcmp(argv[1], "check-pattern")) return check_pattern(argv[2], atol(argv[3]));
    if (argc == 3 && !strcmp(argv[1], "vsock-echo")) return vsock_echo(atoi(argv[2]));
    if (argc == 5 && !strcmp(argv[1], "vsock-send")) return vsock_send(atoi(argv[2]), atoi(argv[3]), argv[4]);
    if (argc == 5 && !strcmp(argv[1], "tcp-send")) return tcp_send(argv[2], atoi(argv[3]), atol(argv[4]));
    if (argc == 4 && !strcmp(argv[1], "tcp-receive")) return tcp_receive(argv[2], atoi(argv[3]));
    if (argc == 5 && !strcmp(argv[1], "bench-io")) return bench_io(argv[2], atol(argv[3]), atol(argv[4]));
    fprintf(stderr, "usage: vmm-guest-tool write-pattern|check-pattern|vsock-echo|vsock-send|tcp-send|bench-io ...\n");
    return 2;
}
