#!/bin/sh
# The official nginx entrypoint, reduced: each /etc/nginx/templates/*.template
# becomes /etc/nginx/conf.d/NAME (without .template), with envsubst of the
# variables set in the container only (nginx's own $variables pass through).
set -eu
if [ "${1:-}" = nginx ]; then
    defined="$(printf '${%s} ' $(env | cut -d= -f1))"
    for template in /etc/nginx/templates/*.template; do
        [ -f "$template" ] || continue
        output="/etc/nginx/conf.d/$(basename "$template" .template)"
        envsubst "$defined" < "$template" > "$output"
        echo "stand-in nginx: rendered $template to $output"
    done
fi
exec "$@"
