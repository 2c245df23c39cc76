// Starts GOV.UK Frontend's components on the page (layout.html loads this module). Their script,
// govuk/govuk-frontend.min.js, is built from the govuk-frontend npm package by
// registers/web/assets.py; pages work without either.
import { initAll } from "./govuk/govuk-frontend.min.js";

initAll();
