/*
 * master.h - the master's one internal header (the WAS role).
 *
 * The master reads and validates the configuration, binds the listening
 * sockets, starts and supervises the front end and the pools' workers, and
 * writes the event log.  It never parses client traffic.  Single-threaded,
 * one event loop.
 */
#ifndef WEIR_MASTER_H
#define WEIR_MASTER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "conf.h"
#include "ctl.h"
#include "loop.h"

/* A bound listening address: `threads` sockets sharing it (SO_REUSEPORT). */
struct listener_set {
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	char			 spec[128];	/* printable address */
	int			*fds;		/* one per front-end thread */
	unsigned		 nfds;
};

struct listeners {
	struct listener_set	*v;
	size_t			 n;
	unsigned		 threads;	/* sockets per address */
};

/* The front-end process as the master sees it. */
struct fe_proc {
	pid_t		 pid;		/* 0 when not running */
	int		 ctl;		/* master's end of the control socketpair */
	struct loop_io	 io;
	uint64_t	 started;	/* monotonic ms */
	unsigned	 restarts;	/* in a row, fast: for back-off */
	struct loop_timer restart_timer;
	bool		 hello;		/* has said CTL_HELLO since its start */
};

struct master {
	struct loop	*loop;
	struct conf	*conf;
	char		*conf_path;
	uint32_t	 generation;	/* config generation */
	struct listeners lis;
	struct fe_proc	 fe;
	uid_t		 fe_uid;	/* identity the front end drops to */
	gid_t		 fe_gid;
	bool		 drop_privs;
	int		 access_fd;	/* -1 when access_log = off */
	int		 httperr_fd;
	bool		 stopping;
	uint64_t	 stop_deadline;
	struct loop_timer stop_timer;
	uint64_t	 started_ms;
};

/* main.c */
int	 cmd_run(int argc, char **argv);
int	 cmd_check(int argc, char **argv);

/* master.c */
int	 master_run(const char *conf_path);

/* listen.c */
int	 listeners_open(struct listeners *l, const struct conf *c,
	    unsigned threads, char *err);
void	 listeners_close(struct listeners *l);
int	 listeners_index(const struct listeners *l,
	    const struct sockaddr_storage *ss, socklen_t len);

/* feproc.c */
int	 feproc_start(struct master *m);
void	 feproc_exited(struct master *m, int status);
void	 feproc_shutdown(struct master *m);
void	 feproc_restart_cb(void *arg);
int	 feproc_send(struct master *m, enum ctl_type type, const void *p,
	    size_t len, const int *fds, int nfds);

/* events.c */
enum event_level {
	EV_INFO = 0,
	EV_WARNING,
	EV_ERROR
};
int	 events_open(const char *log_dir, bool use_syslog, char *err);
void	 events_close(void);
/*
 * Write one event: `fields` (may be NULL) is a JSON object whose members are
 * added to the record; events_emit() takes ownership of it.
 */
void	 events_emit(int id, enum event_level level, const char *pool, pid_t pid,
	    json_t *fields, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* logfiles.c */
int	 logfile_open(const char *dir, const char *name, const char *w3c_fields,
	    char *err);

#endif
