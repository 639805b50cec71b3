/*
 * logfmt.h - the W3C field lists of the request logs, shared by the master
 * (which writes the #Fields directive when it opens a new file) and the front
 * end (which writes the lines).  IIS's defaults, so log tools carry over.
 */
#ifndef WEIR_LOGFMT_H
#define WEIR_LOGFMT_H

#define ACCESS_W3C_FIELDS \
	"date time s-ip cs-method cs-uri-stem cs-uri-query s-port " \
	"cs-username c-ip cs-version cs(User-Agent) cs(Referer) cs-host " \
	"sc-status sc-substatus sc-win32-status sc-bytes time-taken"

#define HTTPERR_FIELDS \
	"date time c-ip c-port s-ip s-port cs-version cs-method cs-uri " \
	"sc-status s-siteid s-reason s-queuename"

#endif
