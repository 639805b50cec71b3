/*
 * tlsnames.h - the names of the TLS values the front end gives pools, in
 * one list both sides read: the front end (src/frontend/tlsvars.c) writes
 * the request header an HTTP pool gets and the CGI variable (mod_ssl's
 * name) a FastCGI pool gets; weir-host (src/host/hosttls.c) reads the
 * headers back into a module's struct weir_tls member.  docs/tls.md has the
 * same table for application authors.
 *
 * X(ENUM, header, CGI variable, struct weir_tls member)
 */
#ifndef WEIR_TLSNAMES_H
#define WEIR_TLSNAMES_H

#define TLS_VALUES(X)								\
	X(PROTOCOL,	  "X-TLS-Protocol",	       "SSL_PROTOCOL",		  protocol)		\
	X(CIPHER,	  "X-TLS-Cipher",	       "SSL_CIPHER",		  cipher)		\
	X(SNI,		  "X-TLS-SNI",		       "SSL_TLS_SNI",		  sni)			\
	X(EXPORTER,	  "X-TLS-Exporter",	       "SSL_TLS_EXPORTER",	  tls_exporter)		\
	X(UNIQUE,	  "X-TLS-Unique",	       "SSL_TLS_UNIQUE",	  tls_unique)		\
	X(END_POINT,	  "X-TLS-Server-End-Point",   "SSL_TLS_SERVER_END_POINT", tls_server_end_point) \
	X(CLIENT_VERIFY,  "X-TLS-Client-Verify",      "SSL_CLIENT_VERIFY",	  client_verify)	\
	X(CLIENT_S_DN,	  "X-TLS-Client-S-DN",	       "SSL_CLIENT_S_DN",	  client_s_dn)		\
	X(CLIENT_I_DN,	  "X-TLS-Client-I-DN",	       "SSL_CLIENT_I_DN",	  client_i_dn)		\
	X(CLIENT_SERIAL,  "X-TLS-Client-Serial",      "SSL_CLIENT_M_SERIAL",	  client_serial)	\
	X(CLIENT_FINGERPRINT, "X-TLS-Client-Fingerprint", "SSL_CLIENT_FINGERPRINT", client_fingerprint) \
	X(CLIENT_CERT,	  "X-TLS-Client-Cert",	       "SSL_CLIENT_CERT",	  client_cert)

/* Every name of the list starts so: a client's headers with it are dropped. */
#define TLS_HEADER_PREFIX	"x-tls-"

#endif
