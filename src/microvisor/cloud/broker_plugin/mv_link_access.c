/* The device link's access rules, enforced inside Mosquitto (plugin API version 5).
 *
 * Every client presents a certificate from the platform CA; its common name (CN) is its identity.
 *
 *   - At CONNECT (basic-auth event): the username must equal the CN, and the client id must equal the
 *     CN for a device, or start with "<service identity>-" for the service (several server processes
 *     share one broker, each with its own client id). A mismatch is refused before the broker looks
 *     at existing sessions, so nobody can take over another device's session.
 *   - SUBSCRIBE: a device may subscribe only below "<root>/<its CN>/down/", never to a shared
 *     subscription; the service may subscribe below "<root>/", shared or not. Anything else gets a
 *     failure SUBACK.
 *   - PUBLISH: a device only below "<root>/<its CN>/up/"; the service only below "<root>/".
 *   - Delivery: a device receives only from "<root>/<its CN>/down/"; the service only from "<root>/".
 *
 * Options (mosquitto.conf): plugin_opt_root (default "mv"), plugin_opt_service (default
 * "microvisor-service").
 */

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <openssl/x509.h>

#define NAME_MAX_LEN 64
#define SHARE_PREFIX "$share/"

static mosquitto_plugin_id_t *plugin_id;
static char root[NAME_MAX_LEN + 1] = "mv";
static char service[NAME_MAX_LEN + 1] = "microvisor-service";

/* The CN of the client's certificate into out (NUL-terminated); false when there is none that fits. */
static bool certificate_name(const struct mosquitto *client, char *out, size_t size)
{
    X509 *certificate = mosquitto_client_certificate(client);
    if (certificate == NULL) {
        return false;
    }
    X509_NAME *subject = X509_get_subject_name(certificate);
    int length = subject ? X509_NAME_get_text_by_NID(subject, NID_commonName, out, (int)size) : -1;
    X509_free(certificate);
    return length > 0 && (size_t)length < size && strlen(out) == (size_t)length;
}

static bool starts_with(const char *text, const char *prefix)
{
    return text != NULL && strncmp(text, prefix, strlen(prefix)) == 0;
}

static bool is_service(const char *identity)
{
    return identity != NULL && strcmp(identity, service) == 0;
}

/* "<root>/<identity>/<direction>/" into out; false if it does not fit. */
static bool subtree(char *out, size_t size, const char *identity, const char *direction)
{
    int written = snprintf(out, size, "%s/%s/%s/", root, identity, direction);
    return written > 0 && (size_t)written < size;
}

static bool below(const char *topic, const char *identity, const char *direction)
{
    char prefix[3 * NAME_MAX_LEN + 8];
    return subtree(prefix, sizeof prefix, identity, direction) && starts_with(topic, prefix);
}

static bool below_root(const char *topic)
{
    size_t length = strlen(root);
    return topic != NULL && strncmp(topic, root, length) == 0 && topic[length] == '/';
}

/* A shared subscription's topic filter without "$share/<group>/"; NULL when it is malformed. */
static const char *unshared(const char *filter)
{
    const char *group_end = strchr(filter + strlen(SHARE_PREFIX), '/');
    return group_end == NULL ? NULL : group_end + 1;
}

static int on_basic_auth(int event, void *event_data, void *userdata)
{
    (void)event;
    (void)userdata;
    struct mosquitto_evt_basic_auth *auth = event_data;
    char name[NAME_MAX_LEN + 1];
    const char *client_id = mosquitto_client_id(auth->client);
    if (!certificate_name(auth->client, name, sizeof name)) {
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "mv-link: refused a client without a usable certificate");
        return MOSQ_ERR_AUTH;
    }
    if (auth->username == NULL || strcmp(auth->username, name) != 0) {
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "mv-link: refused %s: the username is not its certificate's "
                             "name", name);
        return MOSQ_ERR_AUTH;
    }
    bool id_ok;
    if (is_service(name)) {
        char prefix[NAME_MAX_LEN + 2];
        snprintf(prefix, sizeof prefix, "%s-", service);
        id_ok = starts_with(client_id, prefix) && strlen(client_id) > strlen(prefix);
    } else {
        id_ok = client_id != NULL && strcmp(client_id, name) == 0;
    }
    if (!id_ok) {
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "mv-link: refused %s: client id '%s' is not its own", name,
                             client_id ? client_id : "");
        return MOSQ_ERR_AUTH;
    }
    return MOSQ_ERR_SUCCESS;
}

static bool may_subscribe(const char *identity, const char *filter)
{
    bool shared = starts_with(filter, SHARE_PREFIX);
    if (is_service(identity)) {
        const char *topic = shared ? unshared(filter) : filter;
        return below_root(topic);
    }
    return !shared && below(filter, identity, "down");
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
    (void)event;
    (void)userdata;
    struct mosquitto_evt_acl_check *check = event_data;
    const char *identity = mosquitto_client_username(check->client);
    const char *topic = check->topic;
    if (identity == NULL || topic == NULL) {
        return MOSQ_ERR_ACL_DENIED;
    }
    bool allowed = false;
    switch (check->access) {
    case MOSQ_ACL_SUBSCRIBE:
        allowed = may_subscribe(identity, topic);
        if (!allowed) {
            mosquitto_log_printf(MOSQ_LOG_NOTICE, "mv-link: refused %s a subscription to '%s'", identity,
                                 topic);
        }
        break;
    case MOSQ_ACL_UNSUBSCRIBE:
        allowed = true;
        break;
    case MOSQ_ACL_WRITE:
        allowed = is_service(identity) ? below_root(topic) : below(topic, identity, "up");
        break;
    case MOSQ_ACL_READ:
        allowed = is_service(identity) ? below_root(topic) : below(topic, identity, "down");
        break;
    default:
        allowed = false;
    }
    return allowed ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
}

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
    for (int i = 0; i < supported_version_count; i++) {
        if (supported_versions[i] == 5) {
            return 5;
        }
    }
    return -1;
}

static bool copy_option(char *out, size_t size, const char *value)
{
    if (value == NULL || strlen(value) == 0 || strlen(value) >= size || strpbrk(value, "/+#") != NULL) {
        return false;
    }
    strcpy(out, value);
    return true;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata, struct mosquitto_opt *options,
                          int option_count)
{
    (void)userdata;
    plugin_id = identifier;
    for (int i = 0; i < option_count; i++) {
        bool ok = true;
        if (strcmp(options[i].key, "root") == 0) {
            ok = copy_option(root, sizeof root, options[i].value);
        } else if (strcmp(options[i].key, "service") == 0) {
            ok = copy_option(service, sizeof service, options[i].value);
        }
        if (!ok) {
            mosquitto_log_printf(MOSQ_LOG_ERR, "mv-link: plugin_opt_%s is not a usable name", options[i].key);
            return MOSQ_ERR_INVAL;
        }
    }
    int rc = mosquitto_callback_register(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, NULL);
    if (rc == MOSQ_ERR_SUCCESS) {
        rc = mosquitto_callback_register(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL, NULL);
    }
    return rc;
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)
{
    (void)userdata;
    (void)options;
    (void)option_count;
    mosquitto_callback_unregister(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
    mosquitto_callback_unregister(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL);
    return MOSQ_ERR_SUCCESS;
}
