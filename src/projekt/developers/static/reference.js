// Starts Swagger UI on the served spec; "Try it out" calls this same server.
window.addEventListener("DOMContentLoaded", () => {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#reference",
    deepLinking: true,
    tryItOutEnabled: false,
    persistAuthorization: false,
    displayRequestDuration: true,
    // No validator badge: it would send the spec to a third-party service.
    validatorUrl: null,
  });
});
