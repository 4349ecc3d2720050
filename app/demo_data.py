"""Curated South African data for the demo seed: names, places, packages, providers.

Faker has no usable en_ZA locale, so the lists are our own. Names are grouped by language
community so a first name usually travels with a matching surname; each group has the
provinces where its speakers mostly live, so a Zulu name lands in KwaZulu-Natal or Gauteng
more often than in the Western Cape. Postcodes are the street codes of the suburbs.
"""

from dataclasses import dataclass
from decimal import Decimal


def _names(text: str) -> tuple[str, ...]:
    """A comma-separated list as a tuple (keeps long curated lists compact and readable)."""
    return tuple(name.strip() for name in text.split(","))


@dataclass(frozen=True)
class NameGroup:
    """First names by gender, surnames, and where the group's speakers mostly live."""

    male: tuple[str, ...]
    female: tuple[str, ...]
    surnames: tuple[str, ...]
    provinces: dict[str, int]


NAME_GROUPS: dict[str, tuple[int, NameGroup]] = {
    # weight (share of the customer base), names
    "isizulu": (
        20,
        NameGroup(
            male=_names(
                "Sipho, Bongani, Sibusiso, Mandla, Themba, Lwazi, Sandile, Nkosinathi, "
                "Siyabonga, Mthokozisi, Bheki, Musa, Njabulo, Sifiso, Thulani, Lindani, "
                "Mxolisi, Zweli, Mlungisi, Khulekani"
            ),
            female=_names(
                "Nomvula, Thandeka, Zanele, Nokuthula, Lindiwe, Nonhlanhla, Sibongile, "
                "Thandiwe, Zodwa, Nandi, Zinhle, Lungile, Nompumelelo, Mbali, Zama, Hlengiwe, "
                "Nosipho, Philile, Ayanda, Sinenhlanhla"
            ),
            surnames=_names(
                "Dlamini, Nkosi, Ndlovu, Zulu, Mkhize, Ngcobo, Khumalo, Mthembu, Buthelezi, "
                "Cele, Zungu, Shabalala, Gumede, Ntuli, Mchunu, Hlongwane, Sithole, Majola, "
                "Msimang, Ngubane, Mabaso, Xulu, Magubane, Mnguni, Zwane, Mthethwa, Nxumalo, "
                "Shezi, Mahlangu, Skosana, Maseko, Shongwe, Mkhwanazi, Mtshali"
            ),
            provinces={"KwaZulu-Natal": 55, "Gauteng": 40, "Mpumalanga": 5},
        ),
    ),
    "isixhosa": (
        14,
        NameGroup(
            male=_names(
                "Luthando, Siyabulela, Lwandile, Mzwandile, Sizwe, Xolani, Vuyo, Lunga, "
                "Siphiwo, Mncedisi, Thembinkosi, Lonwabo, Mandisi, Zola, Bulelani, Sakhe, "
                "Luvuyo, Akhona, Anele, Loyiso"
            ),
            female=_names(
                "Nomsa, Nosiphiwo, Thandokazi, Siphokazi, Zintle, Asanda, Nomonde, Noluthando, "
                "Sinazo, Khanyisa, Nwabisa, Busisiwe, Nolitha, Lulama, Zukiswa, Bulelwa, "
                "Yonela, Ziyanda, Olwethu, Unathi"
            ),
            surnames=_names(
                "Faku, Mbotho, Ndamase, Jonas, Ngcukana, Nqakula, Madikizela, Tyali, Sigcau, "
                "Ntshona, Dyantyi, Makhaya, Somyo, Gqirana, Mabandla, Bam, Godlo, Mqhayi, "
                "Ngqondi, Mpongo, Nombembe, Sobekwa, Ntlabati, Mgudlwa, Qwabe, Mdleleni, "
                "Gxowa, Mangcu"
            ),
            provinces={"Eastern Cape": 40, "Western Cape": 35, "Gauteng": 25},
        ),
    ),
    "sesotho_setswana_sepedi": (
        18,
        NameGroup(
            male=_names(
                "Thabo, Tshepo, Kagiso, Tumelo, Teboho, Kabelo, Bokang, Thapelo, Moeketsi, "
                "Itumeleng, Kgosi, Katleho, Lefa, Sello, Pule, Motlatsi, Thato, Tebogo, Mpho, "
                "Neo"
            ),
            female=_names(
                "Lerato, Puleng, Dineo, Palesa, Nthabiseng, Refilwe, Boitumelo, Keabetswe, "
                "Masego, Onalenna, Reitumetse, Lebogang, Karabo, Kamohelo, Mamello, Lineo, "
                "Tshegofatso, Naledi, Mpho, Tebogo"
            ),
            surnames=_names(
                "Mokoena, Mofokeng, Molefe, Moloi, Tau, Motaung, Letsie, Lekota, Ramokgopa, "
                "Mothibi, Motsepe, Modise, Masilo, Makgoba, Mashaba, Seabi, Mphahlele, "
                "Ledwaba, Phiri, Kekana, Mabena, Letlape, Mokgosi, Molapo, Nkadimeng, "
                "Sekgobela, Thobejane, Moloto, Setshedi, Mokwena, Pitso, Motsoeneng, Matlala, "
                "Seleka, Radebe"
            ),
            provinces={"Gauteng": 50, "Free State": 20, "Limpopo": 15, "North West": 15},
        ),
    ),
    "afrikaans": (
        14,
        NameGroup(
            male=_names(
                "Johan, Pieter, Hendrik, Jacques, Francois, Gerhard, Willem, Stefan, Jan, "
                "Riaan, Deon, Danie, Christo, Ruan, Wian, Marius, Andries, Hennie, Schalk, "
                "Jaco, Dewald, Morné, Louis, Werner"
            ),
            female=_names(
                "Annelie, Marietjie, Elna, Elmarie, Carina, Anneke, Lize, Mariska, Chantel, "
                "Liezl, Elize, Ilse, Karin, Sunette, Rina, Nadia, Madeleine, Anri, Zelda, "
                "Hanlie, Wilma, Retha, Marlize, Leandri"
            ),
            surnames=_names(
                "van der Merwe, Botha, Pretorius, du Plessis, Nel, van Wyk, Steyn, Venter, "
                "Fourie, Coetzee, Joubert, du Toit, Kruger, Smit, le Roux, Swanepoel, Erasmus, "
                "Potgieter, van Zyl, Marais, Engelbrecht, Basson, Olivier, Louw, Bezuidenhout, "
                "Janse van Rensburg, Oosthuizen, Visser, de Villiers, Bosman, Grobler, "
                "Lombard, Strydom, Cilliers, Viljoen"
            ),
            provinces={
                "Western Cape": 35,
                "Gauteng": 35,
                "Free State": 10,
                "Eastern Cape": 8,
                "North West": 5,
                "Northern Cape": 4,
                "Mpumalanga": 3,
            },
        ),
    ),
    "english": (
        14,
        NameGroup(
            male=_names(
                "James, Michael, David, Ryan, Brandon, Craig, Gareth, Justin, Sean, Matthew, "
                "Jason, Warren, Grant, Bradley, Kyle, Dylan, Mark, Andrew, Richard, Paul, "
                "Greg, Nicholas"
            ),
            female=_names(
                "Sarah, Jessica, Nicole, Lauren, Kelly, Michelle, Claire, Megan, Tracey, "
                "Samantha, Jenny, Natalie, Caroline, Bronwyn, Lisa, Kim, Emma, Rebecca, Jodi, "
                "Candice, Gillian, Kirsten"
            ),
            surnames=_names(
                "Smith, Williams, Jones, Brown, Taylor, Wilson, Thompson, Edwards, Campbell, "
                "Stewart, Robertson, Clarke, Harris, Walker, Wright, Scott, Murray, Morgan, "
                "Hughes, Watson, Fraser, Davies, Mitchell, Bennett, Gordon, Sutherland, "
                "Parker, Ferreira, Da Silva, Gouveia, O'Connor, Papadopoulos"
            ),
            provinces={"Gauteng": 40, "Western Cape": 30, "KwaZulu-Natal": 20, "Eastern Cape": 10},
        ),
    ),
    "indian_sa": (
        10,
        NameGroup(
            male=_names(
                "Rajesh, Pravin, Suresh, Dinesh, Vishal, Kiran, Ashwin, Anil, Deven, Kreesan, "
                "Rishi, Sanjay, Vikash, Prenolan, Kevin, Yogan, Navin, Sagren, Rakesh, Vinesh"
            ),
            female=_names(
                "Priya, Anusha, Kavitha, Nirasha, Rekha, Deshni, Sharmila, Trisha, Nishani, "
                "Reshma, Ashika, Pooja, Sunitha, Nerisha, Anisha, Leshni, Seema, Meera, "
                "Kerusha, Shantel"
            ),
            surnames=_names(
                "Naidoo, Pillay, Govender, Moodley, Reddy, Chetty, Padayachee, Maharaj, Singh, "
                "Naicker, Perumal, Ramsamy, Munsamy, Gounden, Sewpersad, Ramdass, Maistry, "
                "Rajah, Haripersad, Bhana, Patel, Desai, Moonsamy, Pather, Sookdeo"
            ),
            provinces={"KwaZulu-Natal": 70, "Gauteng": 25, "Western Cape": 5},
        ),
    ),
    "western_cape": (
        6,
        NameGroup(
            male=_names(
                "Clint, Jerome, Ricardo, Chad, Marlon, Wesley, Reagan, Mogamat, Ismail, Yusuf, "
                "Faizel, Riyaad, Shafiek, Ebrahim, Tashreeq, Waseem, Imraan, Ashraf"
            ),
            female=_names(
                "Chantelle, Natasha, Charmaine, Bernadette, Jolene, Lee-Ann, Monique, Tania, "
                "Fatima, Zainab, Aaliyah, Nazeema, Faranaaz, Tasneem, Yasmin, Ayesha, Shakira, "
                "Raeesa"
            ),
            surnames=_names(
                "Adams, Isaacs, Abrahams, Hendricks, Jacobs, Davids, Salie, Petersen, Arendse, "
                "Samuels, Solomons, Fortuin, Februarie, Booysen, Cupido, Jantjies, September, "
                "Daniels, Klaasen, Moosa, Cassiem, Jaffer, Achmat"
            ),
            provinces={"Western Cape": 80, "Eastern Cape": 10, "Northern Cape": 5, "Gauteng": 5},
        ),
    ),
    "xitsonga_tshivenda": (
        4,
        NameGroup(
            male=_names(
                "Hlulani, Rhulani, Vongani, Nyiko, Ntsako, Tshilidzi, Azwinndini, Takalani, "
                "Fulufhelo, Mulalo, Khathutshelo, Risuna"
            ),
            female=_names(
                "Khensani, Tsakani, Nyeleti, Hlamalani, Rirhandzu, Mashudu, Rudzani, Ndivhuwo, "
                "Livhuwani, Phathutshedzo, Masindi, Tintswalo"
            ),
            surnames=_names(
                "Maluleke, Baloyi, Chauke, Mathebula, Shirinda, Ngobeni, Mabunda, Hlungwani, "
                "Rikhotso, Mudau, Ramabulana, Nemukula, Tshivhase, Mulaudzi, Nemutandani, "
                "Ravele, Munyai, Sikhwari"
            ),
            provinces={"Limpopo": 50, "Gauteng": 35, "Mpumalanga": 15},
        ),
    ),
}


@dataclass(frozen=True)
class Place:
    """A real suburb with its city, province and street postcode."""

    suburb: str
    city: str
    province: str
    postcode: str


def _places(city: str, province: str, *suburbs: tuple[str, str]) -> tuple[Place, ...]:
    return tuple(Place(suburb, city, province, code) for suburb, code in suburbs)


PLACES: tuple[Place, ...] = (
    *_places(
        "Johannesburg",
        "Gauteng",
        ("Parkhurst", "2193"),
        ("Greenside", "2193"),
        ("Killarney", "2193"),
        ("Melville", "2092"),
        ("Auckland Park", "2092"),
        ("Rosebank", "2196"),
        ("Houghton Estate", "2198"),
        ("Observatory", "2198"),
        ("Braamfontein", "2001"),
        ("Linden", "2195"),
        ("Northcliff", "2195"),
    ),
    *_places(
        "Sandton",
        "Gauteng",
        ("Bryanston", "2191"),
        ("Sandown", "2196"),
        ("Illovo", "2196"),
        ("Morningside", "2196"),
        ("Hurlingham", "2196"),
        ("Rivonia", "2128"),
        ("Sunninghill", "2191"),
    ),
    *_places(
        "Soweto",
        "Gauteng",
        ("Orlando West", "1804"),
        ("Diepkloof", "1864"),
        ("Pimville", "1809"),
        ("Dobsonville", "1863"),
        ("Meadowlands", "1852"),
        ("Protea Glen", "1818"),
        ("Jabulani", "1868"),
        ("Naledi", "1861"),
    ),
    *_places(
        "Randburg",
        "Gauteng",
        ("Ferndale", "2194"),
        ("Blairgowrie", "2194"),
        ("Fontainebleau", "2194"),
    ),
    *_places(
        "Midrand",
        "Gauteng",
        ("Halfway House", "1685"),
        ("Noordwyk", "1687"),
        ("Carlswald", "1684"),
        ("Kyalami", "1684"),
        ("Vorna Valley", "1686"),
    ),
    *_places("Roodepoort", "Gauteng", ("Florida", "1709"), ("Weltevredenpark", "1709")),
    *_places("Edenvale", "Gauteng", ("Edenvale", "1610")),
    *_places("Bedfordview", "Gauteng", ("Bedfordview", "2007")),
    *_places("Kempton Park", "Gauteng", ("Kempton Park", "1619"), ("Tembisa", "1632")),
    *_places("Benoni", "Gauteng", ("Benoni", "1501")),
    *_places("Boksburg", "Gauteng", ("Boksburg", "1459")),
    *_places("Germiston", "Gauteng", ("Germiston", "1401")),
    *_places("Alberton", "Gauteng", ("Alberton", "1449")),
    *_places(
        "Pretoria",
        "Gauteng",
        ("Hatfield", "0083"),
        ("Arcadia", "0083"),
        ("Brooklyn", "0181"),
        ("Waterkloof", "0181"),
        ("Menlo Park", "0081"),
        ("Lynnwood", "0081"),
        ("Faerie Glen", "0081"),
        ("Moreleta Park", "0044"),
        ("Montana", "0182"),
        ("Sunnyside", "0002"),
        ("Mamelodi", "0122"),
        ("Soshanguve", "0152"),
        ("Atteridgeville", "0008"),
        ("Silverton", "0184"),
    ),
    *_places(
        "Centurion",
        "Gauteng",
        ("Lyttelton Manor", "0157"),
        ("Eldoraigne", "0157"),
        ("Highveld", "0157"),
        ("Zwartkop", "0157"),
    ),
    *_places(
        "Cape Town",
        "Western Cape",
        ("Sea Point", "8005"),
        ("Green Point", "8005"),
        ("Gardens", "8001"),
        ("Tamboerskloof", "8001"),
        ("Observatory", "7925"),
        ("Woodstock", "7925"),
        ("Rondebosch", "7700"),
        ("Newlands", "7700"),
        ("Claremont", "7708"),
        ("Kenilworth", "7708"),
        ("Wynberg", "7800"),
        ("Constantia", "7806"),
        ("Bergvliet", "7945"),
        ("Tokai", "7945"),
        ("Muizenberg", "7945"),
        ("Fish Hoek", "7975"),
        ("Pinelands", "7405"),
        ("Milnerton", "7441"),
        ("Table View", "7441"),
        ("Bloubergstrand", "7441"),
        ("Durbanville", "7550"),
        ("Bellville", "7530"),
        ("Parow", "7500"),
        ("Goodwood", "7460"),
        ("Brackenfell", "7560"),
        ("Kuils River", "7580"),
        ("Khayelitsha", "7784"),
        ("Mitchells Plain", "7785"),
        ("Gugulethu", "7750"),
        ("Langa", "7455"),
        ("Somerset West", "7130"),
        ("Strand", "7140"),
    ),
    *_places(
        "Stellenbosch",
        "Western Cape",
        ("Stellenbosch Central", "7600"),
        ("Mostertsdrift", "7600"),
        ("Uniepark", "7600"),
        ("Paradyskloof", "7600"),
        ("Idas Valley", "7600"),
    ),
    *_places("Paarl", "Western Cape", ("Paarl", "7646")),
    *_places(
        "Durban",
        "KwaZulu-Natal",
        ("Morningside", "4001"),
        ("Berea", "4001"),
        ("Glenwood", "4001"),
        ("Musgrave", "4001"),
        ("Umbilo", "4001"),
        ("Durban North", "4051"),
        ("La Lucia", "4051"),
        ("Westville", "3629"),
        ("Pinetown", "3610"),
        ("Hillcrest", "3610"),
        ("Kloof", "3610"),
        ("Chatsworth", "4092"),
        ("Phoenix", "4068"),
        ("Umlazi", "4031"),
        ("KwaMashu", "4360"),
        ("Amanzimtoti", "4126"),
    ),
    *_places(
        "Umhlanga",
        "KwaZulu-Natal",
        ("Umhlanga Rocks", "4319"),
        ("Umhlanga Ridge", "4319"),
        ("Mount Edgecombe", "4302"),
    ),
    *_places("Ballito", "KwaZulu-Natal", ("Ballito", "4420")),
    *_places(
        "Pietermaritzburg",
        "KwaZulu-Natal",
        ("Scottsville", "3201"),
        ("Hayfields", "3201"),
        ("Wembley", "3201"),
        ("Montrose", "3201"),
        ("Pelham", "3201"),
        ("Northdale", "3201"),
    ),
    *_places("Richards Bay", "KwaZulu-Natal", ("Meerensee", "3901"), ("Arboretum", "3900")),
    *_places(
        "Gqeberha",
        "Eastern Cape",
        ("Walmer", "6070"),
        ("Lorraine", "6070"),
        ("Summerstrand", "6001"),
        ("Humewood", "6001"),
        ("Mill Park", "6001"),
        ("Newton Park", "6045"),
        ("Kabega Park", "6025"),
        ("Motherwell", "6211"),
        ("New Brighton", "6200"),
    ),
    *_places(
        "East London",
        "Eastern Cape",
        ("Vincent", "5247"),
        ("Berea", "5241"),
        ("Beacon Bay", "5241"),
        ("Nahoon", "5241"),
        ("Gonubie", "5256"),
        ("Quigney", "5201"),
        ("Mdantsane", "5219"),
    ),
    *_places(
        "Bloemfontein",
        "Free State",
        ("Westdene", "9301"),
        ("Universitas", "9301"),
        ("Brandwag", "9301"),
        ("Langenhovenpark", "9301"),
        ("Fichardt Park", "9301"),
        ("Bayswater", "9301"),
    ),
    *_places(
        "Polokwane",
        "Limpopo",
        ("Bendor", "0699"),
        ("Flora Park", "0699"),
        ("Fauna Park", "0699"),
        ("Westenburg", "0699"),
        ("Polokwane Central", "0700"),
        ("Seshego", "0742"),
    ),
    *_places(
        "Mbombela",
        "Mpumalanga",
        ("Sonheuwel", "1201"),
        ("West Acres", "1201"),
        ("Steiltes", "1201"),
        ("Riverside Park", "1201"),
        ("KaNyamazane", "1214"),
    ),
    *_places(
        "Rustenburg",
        "North West",
        ("Cashan", "0299"),
        ("Safari Gardens", "0299"),
        ("Geelhoutpark", "0299"),
    ),
    *_places(
        "Potchefstroom", "North West", ("Die Bult", "2531"), ("Potchefstroom Central", "2531")
    ),
    *_places("Kimberley", "Northern Cape", ("Belgravia", "8301"), ("Hadison Park", "8301")),
)

# Approximate city centres; a service's coordinates are scattered a few km around them.
CITY_CENTRES: dict[str, tuple[str, str]] = {
    "Johannesburg": ("-26.2041", "28.0473"),
    "Sandton": ("-26.1076", "28.0567"),
    "Soweto": ("-26.2485", "27.8540"),
    "Randburg": ("-26.0936", "27.9933"),
    "Midrand": ("-25.9992", "28.1263"),
    "Roodepoort": ("-26.1625", "27.8725"),
    "Edenvale": ("-26.1410", "28.1527"),
    "Bedfordview": ("-26.1797", "28.1360"),
    "Kempton Park": ("-26.1000", "28.2333"),
    "Benoni": ("-26.1885", "28.3207"),
    "Boksburg": ("-26.2125", "28.2596"),
    "Germiston": ("-26.2309", "28.1678"),
    "Alberton": ("-26.2672", "28.1219"),
    "Pretoria": ("-25.7479", "28.2293"),
    "Centurion": ("-25.8603", "28.1894"),
    "Cape Town": ("-33.9249", "18.4241"),
    "Stellenbosch": ("-33.9321", "18.8602"),
    "Paarl": ("-33.7342", "18.9621"),
    "Durban": ("-29.8587", "31.0218"),
    "Umhlanga": ("-29.7277", "31.0817"),
    "Ballito": ("-29.5390", "31.2140"),
    "Pietermaritzburg": ("-29.6006", "30.3794"),
    "Richards Bay": ("-28.7830", "32.0377"),
    "Gqeberha": ("-33.9608", "25.6022"),
    "East London": ("-33.0153", "27.9116"),
    "Bloemfontein": ("-29.0852", "26.1596"),
    "Polokwane": ("-23.9045", "29.4689"),
    "Mbombela": ("-25.4753", "30.9694"),
    "Rustenburg": ("-25.6676", "27.2421"),
    "Potchefstroom": ("-26.7145", "27.0970"),
    "Kimberley": ("-28.7282", "24.7499"),
}

STREET_NAMES = _names(
    "Main Road, Church Street, Oak Avenue, Jacaranda Street, Protea Road, "
    "Acacia Avenue, Victoria Road, Albert Street, Hibiscus Crescent, Msasa Road, "
    "Marula Street, Disa Close, Fynbos Lane, Bluegum Avenue, Wilge Street, "
    "Olienhout Street, Kiaat Street, Mopani Road, Aloe Crescent, Impala Road, "
    "Kudu Street, Eland Avenue, Springbok Road, Tambotie Avenue, Hofmeyr Street, "
    "Pretorius Street, Joubert Street, Kruger Street, Walter Sisulu Road, "
    "Oliver Tambo Drive, Albertina Sisulu Road, Beyers Naudé Drive, "
    "Steve Biko Road, Chris Hani Road, Sol Plaatje Drive, Vilakazi Street, "
    "Beach Road, Long Street, Voortrekker Road, Jan Smuts Avenue, Oxford Road, "
    "Rivonia Road, Kloof Street, Florida Road, Marine Drive, Cape Road, "
    "Nelson Mandela Drive, Umgeni Road"
)
COMPLEX_NAMES = _names(
    "Jacaranda Gardens, Sea Breeze, Protea Heights, Bluegum Manor, The Palms, "
    "Acacia Court, Fynbos Villas, Highveld View, Sunbird Estate, Silver Oaks, "
    "Kingfisher Place, Baobab Mews"
)
BUSINESS_PARKS = _names(
    "Waterfall Business Park, Woodmead Office Park, Century City Square, "
    "Ridgeside Office Park, Menlyn Corporate Park, Tygerberg Office Park, "
    "La Lucia Ridge Office Estate, Hatfield Square, Greenstone Hill Office Park, "
    "Bryanston Gate"
)

PERSONAL_EMAIL_DOMAINS: dict[str, int] = {
    "gmail.com": 40,
    "outlook.com": 14,
    "mweb.co.za": 8,
    "webmail.co.za": 8,
    "icloud.com": 8,
    "yahoo.com": 5,
    "hotmail.com": 5,
    "telkomsa.net": 5,
    "vodamail.co.za": 4,
    "iafrica.com": 3,
}

# Mobile prefixes in use in South Africa (Vodacom, MTN, Cell C, Telkom, and their MVNOs).
MOBILE_PREFIXES = _names(
    "060, 061, 062, 063, 064, 065, 066, 067, 068, 071, 072, 073, 074, 076, 078, "
    "079, 081, 082, 083, 084"
)

COMPANY_WORDS = _names(
    "Jacaranda, Protea, Ubuntu, Karoo, Highveld, Baobab, Fynbos, Indaba, Mzansi, "
    "Kingfisher, Table Bay, Drakensberg, Marula, Umoya, Lowveld, Cape Peninsula, "
    "Zambezi, Ikhaya"
)
INDUSTRIES = _names(
    "Attorneys, Accounting Services, Logistics, Dental Practice, Physiotherapy, "
    "Engineering, Construction, Consulting, Auto Repairs, Architects, "
    "Property Group, Trading, Motors, Pharmacy, Veterinary Clinic, Printing, "
    "Catering, Security Services, Electrical, Plumbing, Guest House, "
    "Coffee Roasters"
)
COMPANY_SUFFIXES: dict[str, int] = {"(Pty) Ltd": 60, "CC": 15, "Inc.": 5, "": 20}


@dataclass(frozen=True)
class Package:
    """A product on the price list; prices are VAT-inclusive (DESIGN §5.1)."""

    service_type: str
    name: str
    speed_download: str
    speed_upload: str
    data_cap: str
    monthly_price: Decimal
    residential_weight: int
    business_weight: int


def _package(service_type, name, download, upload, data_cap, price, residential, business):
    return Package(
        service_type,
        name,
        f"{download}Mbps",
        f"{upload}Mbps",
        data_cap,
        Decimal(price),
        residential,
        business,
    )


PACKAGES: tuple[Package, ...] = (
    # type, name, download, upload, cap, monthly price, residential weight, business weight
    _package("fibre", "Fibre 25/25 Mbps", 25, 25, "Unlimited", "499.00", 14, 2),
    _package("fibre", "Fibre 50/50 Mbps", 50, 50, "Unlimited", "699.00", 16, 5),
    _package("fibre", "Fibre 100/100 Mbps", 100, 100, "Unlimited", "799.00", 14, 12),
    _package("fibre", "Fibre 200/200 Mbps", 200, 200, "Unlimited", "999.00", 7, 12),
    _package("fibre", "Fibre 500/250 Mbps", 500, 250, "Unlimited", "1299.00", 3, 8),
    _package("fibre", "Fibre 1 Gbps", 1000, 500, "Unlimited", "1599.00", 1, 6),
    _package("lte", "LTE 60GB", 20, 10, "60GB", "349.00", 6, 3),
    _package("lte", "LTE 120GB", 20, 10, "120GB", "499.00", 4, 4),
    _package("lte", "LTE Uncapped 10 Mbps", 10, 5, "Unlimited", "599.00", 6, 3),
    _package("5g", "5G 200GB", 200, 50, "200GB", "699.00", 5, 3),
    _package("5g", "5G 500GB", 300, 50, "500GB", "799.00", 3, 3),
    _package("5g", "5G Uncapped", 100, 30, "Unlimited", "899.00", 5, 4),
    _package("wireless", "Wireless 10 Mbps", 10, 5, "Unlimited", "349.00", 4, 1),
    _package("wireless", "Wireless 20 Mbps", 20, 10, "Unlimited", "449.00", 5, 3),
    _package("wireless", "Wireless 50 Mbps", 50, 25, "Unlimited", "649.00", 3, 4),
)

# Which networks sell each access type where: Octotel is a Cape Town network, MetroFibre
# mostly Gauteng and KwaZulu-Natal.
FIBRE_PROVIDERS_BY_PROVINCE: dict[str, tuple[str, ...]] = {
    "Gauteng": ("Vumatel", "Openserve", "Frogfoot", "MetroFibre"),
    "Western Cape": ("Octotel", "Vumatel", "Frogfoot", "Openserve"),
    "KwaZulu-Natal": ("Vumatel", "Openserve", "MetroFibre", "Frogfoot"),
}
FIBRE_PROVIDERS_ELSEWHERE = ("Openserve", "Frogfoot", "Vumatel")
MOBILE_PROVIDERS: dict[str, tuple[str, ...]] = {
    "lte": ("MTN", "Vodacom", "Telkom", "Rain"),
    "5g": ("MTN", "Vodacom", "Rain"),
    "wireless": ("MTN", "Vodacom", "Telkom"),
}
PROVIDER_ORDER_PREFIXES = {
    "Vumatel": "VUM",
    "Openserve": "OSV",
    "Frogfoot": "FRG",
    "Octotel": "OCT",
    "MetroFibre": "MFN",
    "MTN": "MTN",
    "Vodacom": "VDC",
    "Telkom": "TKM",
    "Rain": "RAN",
}
ROUTER_MODELS: dict[str, tuple[str, ...]] = {
    "fibre": ("TP-Link Archer C6", "TP-Link Deco X20", "MikroTik hAP ac2", "Huawei HG8145V5"),
    "lte": ("Huawei B535", "ZTE MF286D", "TP-Link Archer MR600"),
    "5g": ("Huawei H122-373", "ZTE MC801A", "ZTE MC888"),
    "wireless": ("Ubiquiti LiteBeam 5AC Gen2", "MikroTik SXTsq 5 ac", "Ubiquiti PowerBeam 5AC"),
}
# Once-off fees by access type (VAT-inclusive); zero is the common "free installation" deal.
INSTALLATION_FEES: dict[str, dict[str, int]] = {
    "fibre": {"0.00": 60, "999.00": 25, "1699.00": 15},
    "lte": {"0.00": 100},
    "5g": {"0.00": 100},
    "wireless": {"0.00": 20, "999.00": 45, "1499.00": 35},
}
ROUTER_FEES: dict[str, dict[str, int]] = {
    "fibre": {"0.00": 70, "899.00": 30},
    "lte": {"0.00": 40, "999.00": 40, "1299.00": 20},
    "5g": {"0.00": 40, "1499.00": 40, "1999.00": 20},
    "wireless": {"0.00": 60, "699.00": 40},
}
BILLING_DATE_WEIGHTS: dict[int, int] = {1: 50, 5: 15, 25: 20, 30: 15}

SUSPENSION_REASONS: dict[str, tuple[int, tuple[str, ...]]] = {
    # suspension type: (weight, reasons)
    "non_payment": (
        50,
        (
            "Invoice more than 14 days overdue",
            "Debit order returned: insufficient funds (02)",
            "Debit order returned: payment stopped by the account holder (04)",
        ),
    ),
    "customer_request": (
        25,
        (
            "Customer travelling overseas for three months",
            "Holiday home: service paused until December",
            "Customer asked for a temporary pause while renovating",
        ),
    ),
    "technical": (
        10,
        ("Line fault under investigation with the network provider", "Router replacement pending"),
    ),
    "fraud": (5, ("Identity documents could not be verified",)),
    "policy_violation": (5, ("Abuse report: outbound spam from the connection",)),
    "other": (5, ("Awaiting landlord approval after the customer relocated",)),
}
CANCELLATION_REASONS = (
    "Relocating to an area without coverage",
    "Moved to another provider",
    "Financial reasons",
    "Emigrating",
    "Business premises closed",
    "No longer needed",
    "Poor signal at the premises",
    "Deceased estate",
)

# Order pipeline statuses for a service that is not active yet (seed-spec-digest §1.3).
PENDING_ORDER_STATUSES = (
    "kyc_pending",
    "kyc_submitted",
    "kyc_approved",
    "payment_method_pending",
    "payment_method_registered",
    "installation_scheduled",
    "installation_in_progress",
    "installation_completed",
    "activation_pending",
)
# Orders with these statuses have been paid for on the website.
PAID_ORDER_STATUSES = frozenset(
    {
        "installation_scheduled",
        "installation_in_progress",
        "installation_completed",
        "activation_pending",
        "active",
        "completed",
        "suspended",
    }
)
