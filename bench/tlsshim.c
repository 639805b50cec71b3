/* bench/tlsshim.c - preloaded into wrk by bench/tls.py (LD_PRELOAD); built
 * by the script with `cc -shared`.  Not part of weir.
 *
 * wrk keeps one SSL object per connection slot.  When the server closes a
 * connection (Connection: close), wrk calls SSL_shutdown() and SSL_clear(),
 * which keeps the session, and the next SSL_connect() on that object offers
 * it: every handshake after a slot's first is a resumption (TLS 1.3: the
 * server's last ticket).  So:
 *
 *   WEIR_BENCH_TLS_FRESH=1   every handshake starts with no session: a full
 *                            handshake each time (tls-conn);
 *   otherwise                wrk as it is: resumption (tls-resume).
 *
 * Either way it counts the handshakes that completed, full and resumed
 * (SSL_session_reused()), and writes "full N resumed M" to the file named by
 * WEIR_BENCH_TLS_COUNT when wrk exits: the proof, per run, of what was
 * measured. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <openssl/ssl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static atomic_ulong shim_full, shim_resumed;

int SSL_connect(SSL *ssl)
{
    static int (*real_connect)(SSL *);
    const char *fresh = getenv("WEIR_BENCH_TLS_FRESH");

    if (real_connect == NULL)
        real_connect = (int (*)(SSL *))dlsym(RTLD_NEXT, "SSL_connect");
    /* wrk calls SSL_connect() again after each WANT_READ: only the first
     * call of a handshake may drop the session */
    if (fresh != NULL && *fresh == '1' && SSL_in_before(ssl))
        SSL_set_session(ssl, NULL);
    int rc = real_connect(ssl);
    if (rc == 1)
        atomic_fetch_add(SSL_session_reused(ssl) ? &shim_resumed : &shim_full, 1);
    return rc;
}

__attribute__((destructor)) static void shim_report(void)
{
    const char *path = getenv("WEIR_BENCH_TLS_COUNT");
    FILE *f = path != NULL ? fopen(path, "w") : NULL;

    if (f == NULL)
        return;     /* nowhere to report: tls.py then says the count is missing */
    fprintf(f, "full %lu resumed %lu\n", atomic_load(&shim_full), atomic_load(&shim_resumed));
    fclose(f);
}
