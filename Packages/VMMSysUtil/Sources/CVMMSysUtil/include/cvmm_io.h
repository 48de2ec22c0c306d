// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

// C helpers for epoll, timerfd, signalfd, sockets (SCM_RIGHTS), terminals. Included by CVMMSysUtil.h after _GNU_SOURCE is defined.
#ifndef CVMM_IO_H
#define CVMM_IO_H

// Swift's Glibc module is built without _GNU_SOURCE, where fd_set's member is
// `__fds_bits`; with _GNU_SOURCE (X/Open) it is `fds_bits`, and Clang rejects the
// two definitions of one header when both modules load. Most headers below pull in
// <sys/select.h> through <sys/types.h>, so it is included once, first, with the
// Glibc module's spelling.
#ifdef __USE_XOPEN
#undef __USE_XOPEN
#include <sys/select.h>
#define __USE_XOPEN 1
#else
#include <sys/select.h>
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

// MARK: epoll

/// epoll_ctl with the user data as a plain u64 (epoll_data_t is a union Swift sees as opaque properties).
static inline int cvmm_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event event;
    memset(&event, 0, sizeof(event));
    event.events = events;
    event.data.u64 = data;
    return epoll_ctl(epfd, op, fd, &event);
}

/// The event bits of entry `index` (x86_64 packs struct epoll_event, so Swift should not lay it out itself).
static inline uint32_t cvmm_epoll_event_bits(const struct epoll_event *events, int index) {
    return events[index].events;
}

/// The user data of entry `index`.
static inline uint64_t cvmm_epoll_event_data(const struct epoll_event *events, int index) {
    return events[index].data.u64;
}

/// sizeof(struct epoll_event): 12 on x86_64 (packed), 16 elsewhere.
static inline size_t cvmm_epoll_event_size(void) { return sizeof(struct epoll_event); }

// MARK: signalfd

/// Queues `signo` with an integer payload to one thread (a GNU extension the Glibc module hides).
static inline int cvmm_sfd_pthread_sigqueue(pthread_t thread, int signo, int value) {
    union sigval payload;
    payload.sival_int = value;
    return pthread_sigqueue(thread, signo, payload);
}

// MARK: SCM_RIGHTS

/// Bytes of control buffer needed to carry `count` descriptors.
static inline size_t cvmm_scm_rights_space(size_t count) { return CMSG_SPACE(count * sizeof(int)); }

/// Fills `control` (at least cvmm_scm_rights_space(count) bytes, zeroed) with one SCM_RIGHTS message
/// carrying `fds` and points `message` at it.
static inline void cvmm_scm_rights_pack(struct msghdr *message, void *control, const int *fds, size_t count) {
    message->msg_control = control;
    message->msg_controllen = CMSG_SPACE(count * sizeof(int));
    struct cmsghdr *header = CMSG_FIRSTHDR(message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(count * sizeof(int));
    memcpy(CMSG_DATA(header), fds, count * sizeof(int));
}

/// Copies the descriptors of every SCM_RIGHTS message in `message` into `fds` (room for `capacity`).
/// Returns how many the kernel delivered; descriptors beyond `capacity` are closed here so none leak.
static inline size_t cvmm_scm_rights_unpack(struct msghdr *message, int *fds, size_t capacity) {
    size_t found = 0;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(message); header != NULL; header = CMSG_NXTHDR(message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char *data = CMSG_DATA(header);
        for (size_t index = 0; index < count; index++) {
            int fd;
            memcpy(&fd, data + index * sizeof(int), sizeof(int));
            if (found < capacity) {
                fds[found++] = fd;
            } else {
                close(fd);
            }
        }
    }
    return found;
}

// MARK: terminals

/// Opens a new pseudo-terminal controller (close-on-exec, not our controlling terminal),
/// unlocks its device and writes the device's path into `name`. Returns the controller
/// descriptor, or -1 with errno set (the controller is closed again on failure).
static inline int cvmm_open_pseudo_terminal(char *name, size_t size) {
    int controller = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (controller < 0) return -1;
    if (grantpt(controller) != 0 || unlockpt(controller) != 0 || ptsname_r(controller, name, size) != 0) {
        int saved = errno;
        close(controller);
        errno = saved;
        return -1;
    }
    return controller;
}

/// Switches `attributes` to raw mode (cfmakeraw is a BSD extension the Glibc module may hide).
static inline void cvmm_cfmakeraw(struct termios *attributes) { cfmakeraw(attributes); }

#endif
