"""Shared, industry-neutral prose for the demo corpus: general blog posts, careers, legal pages, contact."""

from __future__ import annotations

# General-topic blog posts: the distracting pages a classifier must not rely on.
GENERAL_POSTS: list[tuple[str, str, str]] = [
    ("community-cleanup", "Our team at the spring community clean-up",
     "Every April the whole team trades its usual work for gloves and rubbish bags. This year we cleared the creek path behind the elementary school and filled two skips. "
     "Thank you to the neighbours who brought coffee and doughnuts, and to the parks department for the loan of the trailer."),
    ("small-business-saturday", "Why we shop local on Small Business Saturday",
     "Money spent at an independent business stays in town longer: it pays local wages, buys from local suppliers and sponsors local teams. "
     "This year our staff put together a list of their favourite shops, from the bookshop on Elm Street to the hardware store that still cuts keys by hand."),
    ("energy-bills", "Five ways to cut your winter energy bill",
     "Seal the gaps around windows and doors with weatherstripping, lower the thermostat a couple of degrees at night, and replace the furnace filter. "
     "LED bulbs and a programmable thermostat pay for themselves within a season. Ask your utility about a free energy audit."),
    ("new-website", "Welcome to our new website",
     "We have rebuilt our website to make it easier to find our hours, reach us and learn what we do. It works on phones and tablets, and the contact form now goes straight to the right person. "
     "Let us know if something is missing or broken."),
    ("anniversary", "Celebrating another year in business",
     "This month marks another anniversary for our small company. We want to thank our customers, our suppliers and, most of all, our staff. "
     "To celebrate, we are hosting an open afternoon with cake, lemonade and a raffle for the local library fund."),
    ("holiday-hours", "Holiday hours",
     "We will close early on the day before the holiday and reopen on the following Monday. Messages left over the break will be answered in the order received. "
     "We wish everyone a restful season with family and friends."),
    ("volunteer-day", "A day at the food bank",
     "Our staff spent a Friday sorting donations at the regional food bank: eleven pallets of tinned goods, pasta and cereal, enough for roughly four thousand meals. "
     "If you would like to volunteer, the food bank welcomes groups of any size."),
    ("parking-changes", "Parking changes on Main Street",
     "The town is resurfacing Main Street over the next three weeks. Street parking outside our door will be limited; please use the public lot behind the library, two minutes' walk away."),
    ("scholarship", "Announcing our student scholarship",
     "We are proud to fund a scholarship for a graduating senior from the local high school who plans to study a trade, a science or a business subject. "
     "Applications are due in March and require a short essay about a local problem the student would like to solve."),
    ("weather-closures", "How we handle severe weather",
     "When storms or heavy snow make travel dangerous, we may close or reschedule appointments. We post updates on this website and call everyone who is affected. "
     "Your safety and the safety of our staff come first."),
]

CAREER_INTROS: list[str] = [
    "We are growing and looking for people who take pride in their work.",
    "Join a small team where your ideas are heard and your work is noticed.",
    "We hire for attitude and train for skill.",
    "Our people are the reason customers come back.",
]
CAREER_BENEFITS: list[str] = [
    "Competitive pay, paid time off and a retirement plan with an employer match.",
    "Health, dental and vision insurance from your first month.",
    "Paid training, certifications and tuition support.",
    "Flexible schedules and a team that covers for one another.",
    "An annual bonus tied to customer satisfaction.",
]
CAREER_OUTRO: list[str] = [
    "Send your résumé and a short note about yourself to {email}.",
    "Apply in person or email {email}; we reply to every applicant.",
    "To apply, email {email} with the position title in the subject line.",
]

ROLES: dict[str, list[str]] = {
    "plumbing": ["Service plumber (licensed)", "Plumbing apprentice", "Dispatcher"],
    "bakery": ["Night baker", "Pastry cook", "Counter staff (weekends)"],
    "law_firm": ["Litigation paralegal", "Associate attorney", "Legal receptionist"],
    "dental_clinic": ["Registered dental hygienist", "Dental assistant", "Front desk coordinator"],
    "accounting": ["Staff accountant", "Seasonal tax preparer", "Bookkeeper"],
    "trucking": ["Class A CDL driver, regional", "Diesel mechanic", "Night dispatcher"],
    "software": ["Senior backend engineer", "Product designer", "Customer support specialist"],
    "restaurant": ["Line cook", "Server", "Dishwasher"],
    "construction": ["Project superintendent", "Carpenter", "Estimator"],
    "real_estate": ["Licensed sales agent", "Transaction coordinator", "Leasing assistant"],
    "auto_repair": ["Automotive technician", "Service writer", "Lube technician"],
    "hair_salon": ["Experienced stylist", "Salon assistant", "Receptionist"],
    "veterinary_clinic": ["Veterinary technician", "Associate veterinarian", "Kennel attendant"],
    "landscaping": ["Crew leader", "Hardscape installer", "Seasonal groundskeeper"],
    "hotel": ["Front desk agent", "Housekeeping attendant", "Breakfast cook"],
    "fitness_gym": ["Group fitness instructor", "Personal trainer", "Front desk associate"],
}

PRIVACY: list[list[str]] = [
    [
        "This privacy policy explains how {name} collects, uses and protects personal information when you visit this website or contact us.",
        "We collect the information you give us, such as your name, email address and telephone number, when you fill in a form or send us a message.",
        "We use this information only to respond to you and to provide the services you request. We do not sell or rent personal information to third parties.",
        "Our website uses cookies to remember your preferences and to measure visits in aggregate. You can disable cookies in your browser settings.",
        "You may ask to see, correct or delete the personal information we hold about you by writing to {email}.",
    ],
    [
        "Your privacy matters to us. This notice describes what data we gather and why.",
        "Server logs record your IP address, browser type and the pages you visit. These logs are kept for ninety days for security purposes.",
        "If you subscribe to our newsletter, we store your email address with our mailing provider until you unsubscribe.",
        "We share information with service providers who help us operate, such as our hosting company and payment processor, under contracts that protect your data.",
        "Questions about this policy may be sent to {email}. We may update this policy from time to time; the date below shows the latest revision.",
    ],
    [
        "{name} (“we”, “us”) respects the privacy of everyone who uses this site.",
        "Personal data is processed on the basis of your consent or to perform a contract with you.",
        "We keep records only as long as required by law or for the purpose for which they were collected.",
        "Analytics on this site are anonymised and no advertising trackers are used.",
        "You have the right to access, rectify or erase your data and to lodge a complaint with a supervisory authority.",
    ],
]

TERMS: list[list[str]] = [
    [
        "By using this website you agree to these terms of use.",
        "The content of this site is provided for general information only and may change without notice.",
        "All text, images and logos are the property of {name} and may not be reproduced without permission.",
        "We are not responsible for the content of external websites linked from this site.",
        "These terms are governed by the laws of the state in which our business is registered.",
    ],
    [
        "Terms and conditions of service.",
        "Quotes are valid for thirty days. Invoices are due within fifteen days of the service date unless otherwise agreed in writing.",
        "Appointments cancelled with less than twenty-four hours' notice may incur a fee.",
        "Our liability for any claim is limited to the amount paid for the service in question.",
        "If any provision of these terms is found unenforceable, the remaining provisions stay in effect.",
    ],
]

CONTACT_INTROS: list[str] = [
    "We would love to hear from you. Call, email or stop by during business hours.",
    "Have a question or need a quote? Send us a message and we will get back to you within one business day.",
    "Reach our team by phone, email or the form below.",
    "Get in touch — a real person reads every message.",
]
HOURS: list[str] = [
    "Monday to Friday, 8:00 to 17:00",
    "Mon–Sat 7am–6pm, closed Sunday",
    "Tuesday through Saturday, 9 a.m. to 7 p.m.",
    "Open every day, 6:00–22:00",
    "Weekdays 8:30–5:30; Saturdays by appointment",
]
STREETS: list[str] = [
    "Main Street", "Orchard Lane", "Commerce Drive", "Mill Road", "Station Avenue", "Chestnut Street",
    "Industrial Parkway", "Riverside Drive", "High Street", "Lantern Way", "Quarry Road", "Bell Avenue",
]

# Fictional third-party sites for external links (never real domains).
EXTERNAL: list[tuple[str, str]] = [
    ("https://www.pixelharbor-studio.net/", "Website by Pixel Harbor Studio"),
    ("https://chamber.harrowcounty-business.org/members", "Member of the County Business Chamber"),
    ("https://www.reviewnook.site/biz", "Read our reviews on ReviewNook"),
    ("https://fotogram-social.net/", "Follow us on Fotogram"),
    ("https://www.localtownguide.info/directory", "Listed in the Local Town Guide"),
    ("https://bettertrade-bureau.org/profile", "Accredited by the Better Trade Bureau"),
]

# Generic marketing lines that fit almost any local business: some home pages lean on these, as real ones do.
GENERIC_HOME: list[str] = [
    "Quality service you can trust, at a fair price.",
    "Call today for a free, no-obligation estimate.",
    "We are a locally owned business that treats every customer like a neighbour.",
    "Our friendly, experienced team is here to help.",
    "Satisfaction guaranteed — if you are not happy, we will make it right.",
    "Serving homeowners and businesses throughout the county.",
    "Licensed, insured and proud of our five-star reviews.",
    "We show up on time, keep you informed and clean up after ourselves.",
    "Flexible appointments, including evenings and weekends.",
    "Thank you for supporting a small, independent business.",
    "Check out our latest news and special offers.",
    "Sign up for our newsletter to hear about seasonal discounts.",
]

# Industries whose vocabulary plausibly leaks into one another's pages.
NEIGHBOURS: dict[str, list[str]] = {
    "plumbing": ["construction"], "construction": ["plumbing", "landscaping", "real_estate"],
    "landscaping": ["construction"], "real_estate": ["construction"], "hotel": ["restaurant"],
    "restaurant": ["bakery", "hotel"], "bakery": ["restaurant"], "accounting": ["law_firm", "software"],
    "law_firm": ["accounting", "real_estate"], "software": ["accounting"], "trucking": ["auto_repair"],
    "auto_repair": ["trucking"], "hair_salon": ["fitness_gym"], "fitness_gym": ["hair_salon"],
    "dental_clinic": ["veterinary_clinic"], "veterinary_clinic": ["dental_clinic"],
}
