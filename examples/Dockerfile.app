# Your application's image, with /sleep added for the preStop hook
# (examples/deployment.yaml). The base can be anything, even scratch or
# distroless: /sleep is static and needs no shell, libc or user database.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=ghcr.io/sleep-developers/sleep:0.1.0 /sleep /sleep
COPY app /app
USER 65532:65532
ENTRYPOINT ["/app"]
