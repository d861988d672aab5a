"""A record every company gets once, as data: the main company's from the addon's XML, another company's created
the first time it is needed and marked with an xmlid of its own (`<xmlid>_company_<id>`)."""


def company_default(env, model_name, xmlid, company, create_values):
    """The company's default `model_name` record for `xmlid`; `create_values()` gives the values to create it."""
    main = env.ref("base.main_company", raise_if_not_found=False)
    company_xmlid = xmlid if company == main else f"{xmlid}_company_{company.id}"
    record = env.ref(company_xmlid, raise_if_not_found=False)
    if record:
        return record
    # sudo: a salesperson's first sequence in a company needs its defaults, which users may not create themselves;
    # the xmlid marks the record as the company's default, so it is created once.
    record = env[model_name].sudo().create(create_values())
    module, name = company_xmlid.split(".")
    env["ir.model.data"].sudo().create(
        {"module": module, "name": name, "model": model_name, "res_id": record.id, "noupdate": True}
    )
    return record.sudo(False)
