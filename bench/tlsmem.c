/* bench/tlsmem.c - how much heap OpenSSL itself keeps per idle server-side
 * TLS connection, without any server around it: the floor under every
 * server's tls-idle figure (see README.md).  Not part of weir.
 *
 *   cc -O2 -o /tmp/tlsmem bench/tlsmem.c -lssl -lcrypto
 *   /tmp/tlsmem CERT KEY [N [RELEASE_BUFFERS]]
 *
 * N connections over socketpairs, each: a handshake (OpenSSL's defaults:
 * TLS 1.3, X25519), a short request, a 1 KiB + headers answer, then the
 * client side freed.  OpenSSL's allocations are counted through
 * CRYPTO_set_mem_functions(); the live bytes the server SSLs hold, divided
 * by N, are printed.  The server context is set as weir's is for memory
 * (SSL_MODE_RELEASE_BUFFERS unless RELEASE_BUFFERS is 0, one ticket). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <openssl/crypto.h>
#include <openssl/ssl.h>

static long mem_live;       /* bytes OpenSSL holds */

static void *
mem_alloc(size_t n, const char *file, int line)
{
    size_t *p = malloc(n + 2 * sizeof(size_t));

    (void)file, (void)line;
    if (p == NULL)
        return NULL;
    p[0] = n;
    mem_live += (long)n;
    return p + 2;
}

static void *
mem_realloc(void *q, size_t n, const char *file, int line)
{
    size_t *p, *np;

    if (q == NULL)
        return mem_alloc(n, file, line);
    p = (size_t *)q - 2;
    if ((np = realloc(p, n + 2 * sizeof(size_t))) == NULL)
        return NULL;
    mem_live += (long)n - (long)np[0];
    np[0] = n;
    return np + 2;
}

static void
mem_free(void *q, const char *file, int line)
{
    (void)file, (void)line;
    if (q != NULL) {
        size_t *p = (size_t *)q - 2;

        mem_live -= (long)p[0];
        free(p);
    }
}

int
main(int argc, char **argv)
{
    int n = argc > 3 ? atoi(argv[3]) : 1000, release = argc > 4 ? atoi(argv[4]) : 1;
    char buf[2048];
    long before = 0;
    const char *version = "?";

    if (argc < 3 || n < 1 || !CRYPTO_set_mem_functions(mem_alloc, mem_realloc, mem_free)) {
        fprintf(stderr, "usage: tlsmem CERT KEY [N [RELEASE_BUFFERS]]\n");
        return 2;
    }
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method()), *cctx = SSL_CTX_new(TLS_client_method());
    if (sctx == NULL || cctx == NULL || SSL_CTX_use_certificate_chain_file(sctx, argv[1]) != 1 ||
        SSL_CTX_use_PrivateKey_file(sctx, argv[2], SSL_FILETYPE_PEM) != 1) {
        fprintf(stderr, "tlsmem: cannot load %s / %s\n", argv[1], argv[2]);
        return 1;
    }
    if (release)
        SSL_CTX_set_mode(sctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_num_tickets(sctx, 1);
    memset(buf, 'x', sizeof(buf));
    for (int i = 0; i <= n; i++) {      /* the first one is not counted: lazy tables */
        int sv[2], sdone = 0, cdone = 0;

        if (i == 1)
            before = mem_live;
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1) {
            perror("tlsmem: socketpair");       /* the server ends stay open: fd limit? */
            return 1;
        }
        (void)fcntl(sv[0], F_SETFL, O_NONBLOCK);    /* a failure shows as no handshake */
        (void)fcntl(sv[1], F_SETFL, O_NONBLOCK);
        SSL *s = SSL_new(sctx), *c = SSL_new(cctx);
        SSL_set_fd(s, sv[0]);
        SSL_set_fd(c, sv[1]);
        SSL_set_accept_state(s);
        SSL_set_connect_state(c);
        for (int k = 0; k < 100 && !(sdone && cdone); k++) {
            cdone = cdone || SSL_do_handshake(c) == 1;
            sdone = sdone || SSL_do_handshake(s) == 1;
        }
        if (!sdone || !cdone || SSL_write(c, "GET / HTTP/1.1\r\n\r\n", 18) != 18 ||
            SSL_read(s, buf, sizeof(buf)) != 18 || SSL_write(s, buf, 1024 + 150) != 1174 ||
            SSL_read(c, buf, sizeof(buf)) <= 0) {
            fprintf(stderr, "tlsmem: connection %d failed\n", i);
            return 1;
        }
        version = SSL_get_version(s);   /* a static string */
        SSL_free(c);
        close(sv[1]);
    }
    printf("%d idle server-side connections (%s, %s, RELEASE_BUFFERS %s): "
           "%.0f bytes each held by OpenSSL\n", n, OpenSSL_version(OPENSSL_VERSION),
           version, release ? "on" : "off",
           (double)(mem_live - before) / n);
    return 0;
}
