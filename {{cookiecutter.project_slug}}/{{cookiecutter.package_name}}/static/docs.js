// The API explorer on /docs: Swagger UI, served from the swagger-ui-py package (never a CDN),
// reading the app's own openapi.json. "Try it out" sends real requests to this server.
"use strict";

const explorer = document.getElementById("explorer");
window.SwaggerUIBundle({
  url: explorer.dataset.spec,
  domNode: explorer,
  deepLinking: true,
  validatorUrl: null, // the default badge would ask a server on the internet
});
